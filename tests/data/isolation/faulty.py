"""Models that misbehave in every way a user's code can, for tests/workers/test_isolation.py."""

import ctypes
import os
import signal
import subprocess
import sys
import time

import torch


def good(width=4):
    return torch.nn.Linear(width, 2)


class _Forward(torch.nn.Module):
    """A model whose forward runs `action` (after a real layer, so counting reached it)."""

    def __init__(self, action):
        super().__init__()
        self.layer = torch.nn.Linear(4, 4)
        self.action = action

    def forward(self, x):
        return self.action(self.layer(x))


def _segv(x):
    ctypes.string_at(0)  # reads address 0: SIGSEGV


def _kill_self(sig):
    def act(x):
        os.kill(os.getpid(), sig)
        time.sleep(5)

    return act


def _hang(x):
    time.sleep(300)


def _hang_with_child(x):
    with open(os.environ["FAULTY_CHILD_PID_FILE"], "w") as handle:
        handle.write(str(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"]).pid))
    time.sleep(300)


def _os_exit(x):
    os._exit(3)


def _sys_exit(x):
    sys.exit(5)


def _raise_value(x):
    raise ValueError("forward failed on purpose")


def _memory_error(x):
    raise MemoryError("could not allocate 1 TB")


def _print_commands(x):
    print("::error file=x.py::forged annotation")
    print("::add-mask::secret")
    print("::stop-commands::token")
    os.write(1, b"##[error]legacy forged annotation\n")  # a C-level write: caught at the fd
    raise RuntimeError("after printing")


def _busy_loop(x):
    while True:
        pass


def segfault():
    return _Forward(_segv)


def abort():
    return _Forward(_kill_self(signal.SIGABRT))


def sigkill():
    return _Forward(_kill_self(signal.SIGKILL))


def sigbus():
    return _Forward(_kill_self(signal.SIGBUS))


def hang():
    return _Forward(_hang)


def hang_with_child():
    return _Forward(_hang_with_child)


def busy():
    return _Forward(_busy_loop)


def os_exit():
    return _Forward(_os_exit)


def sys_exit_forward():
    return _Forward(_sys_exit)


def raises():
    return _Forward(_raise_value)


def memory_error():
    return _Forward(_memory_error)


def prints():
    return _Forward(_print_commands)


def factory_raises():
    raise KeyError("no such checkpoint")


def factory_exits():
    sys.exit(7)


def factory_os_exit():
    os._exit(9)


def factory_segfault():
    ctypes.string_at(0)


def factory_hangs():
    time.sleep(300)


def factory_returns_none():
    return None


def factory_needs_kwarg(width):
    return torch.nn.Linear(width, 2)


def factory_memory():
    raise MemoryError()


def inputs_raise():
    raise OSError("inputs file missing")


def inputs_exit():
    os._exit(11)


not_callable = 42


def _hang_swallowing(x):
    try:
        time.sleep(300)
    except Exception as exc:  # a broad handler in the model's code must not swallow a cancelled job
        print(f"ignored: {exc!r}")
    return x


def hang_swallowing():
    return _Forward(_hang_swallowing)
