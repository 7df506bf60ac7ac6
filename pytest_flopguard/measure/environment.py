"""What the figures depend on besides the code: versions, the machine, the devices.

`env_info` goes into every results file (without importing torch: a worker
reports its own); `environment` is a latency figure's, compared before a
base and a head latency are.
"""

from __future__ import annotations

import contextlib
import platform
import sys
from pathlib import Path
from typing import Any


def env_info() -> dict[str, Any]:
    """What the figures depend on besides the code: versions and devices."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": sys.platform,
        "machine": platform.machine(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        info["threads"] = torch.get_num_threads()
    info["devices"] = {"cpu": platform.processor() or platform.machine()}
    return info


def environment(device: str, threads: int) -> dict[str, str]:
    """What a latency figure depends on besides the code: compared before base and head are."""
    import torch

    env = {
        "device": device,
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "threads": str(threads),
        "python": platform.python_version(),
    }
    if torch.device(device).type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
        env["cuda"] = str(torch.version.cuda)
    return env


def cpu_model() -> str:
    """`AMD EPYC 7763 64-Core Processor`, from /proc/cpuinfo where there is one."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    return platform.processor() or platform.machine() or "unknown"
