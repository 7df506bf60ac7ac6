"""ImportGuard: in the base process, a model's code must come from the base checkout."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_flopguard.budget.schema import InputsSpec, ModelSpec
from pytest_flopguard.errors import Location
from pytest_flopguard.results import SHADOWED_IMPORT
from pytest_flopguard.workers.importguard import ImportGuard


@pytest.fixture
def fake_modules() -> Iterator[dict[str, str]]:
    """Register modules by name -> file, and remove them afterwards."""
    files: dict[str, str] = {}
    yield files
    for name in files:
        sys.modules.pop(name, None)


def register(files: dict[str, str], name: str, path: Path) -> None:
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    files[name] = str(path)


def spec(model: str = "fg_fake_nets.mlp:build", inputs: str | None = None) -> ModelSpec:
    return ModelSpec("mlp", Location("flopguard.yaml", 3, "models.mlp"), model=model, inputs=InputsSpec(factory=inputs))


@pytest.fixture
def checkouts(tmp_path: Path) -> tuple[Path, Path]:
    head, base = tmp_path / "head", tmp_path / "base"
    for root in (head, base):
        (root / "src" / "fg_fake_nets").mkdir(parents=True)
        (root / "src" / "fg_fake_nets" / "mlp.py").write_text("")
    return head, base


def test_module_from_the_base_checkout_passes(checkouts: tuple[Path, Path], fake_modules: dict[str, str]) -> None:
    head, base = checkouts
    register(fake_modules, "fg_fake_nets.mlp", base / "src" / "fg_fake_nets" / "mlp.py")
    assert ImportGuard(base, head).check(spec(), []) is None


def test_factory_from_the_head_checkout_is_flagged(checkouts: tuple[Path, Path], fake_modules: dict[str, str]) -> None:
    head, base = checkouts
    register(fake_modules, "fg_fake_nets.mlp", head / "src" / "fg_fake_nets" / "mlp.py")
    error = ImportGuard(base, head).check(spec(), [])
    assert error is not None and (error.type, error.code) == (SHADOWED_IMPORT, "FG410")
    assert "imported from" in error.message and str(head) in error.message
    assert error.fix is not None and "`PYTHONPATH=src`" in error.fix
    assert error.where == "flopguard.yaml:3 models.mlp"


def test_helper_module_from_the_head_is_flagged(checkouts: tuple[Path, Path], fake_modules: dict[str, str]) -> None:
    head, base = checkouts
    register(fake_modules, "fg_fake_nets.mlp", base / "src" / "fg_fake_nets" / "mlp.py")
    register(fake_modules, "fg_fake_layers", head / "src" / "fg_fake_layers.py")
    error = ImportGuard(base, head).check(spec(), ["fg_fake_layers"])
    assert error is not None and "'fg_fake_layers'" in error.message


def test_installed_copy_of_a_base_module_is_flagged(
    checkouts: tuple[Path, Path], fake_modules: dict[str, str], tmp_path: Path
) -> None:
    head, base = checkouts
    register(fake_modules, "fg_fake_nets.mlp", tmp_path / "site-packages" / "fg_fake_nets" / "mlp.py")
    assert ImportGuard(base, head).check(spec(), []) is not None


def test_third_party_factory_and_the_environment_pass(
    checkouts: tuple[Path, Path], fake_modules: dict[str, str], tmp_path: Path
) -> None:
    head, base = checkouts
    # torchvision-style factory: installed, and the base checkout has no copy of it
    register(fake_modules, "fg_fake_vision.models", tmp_path / "site" / "fg_fake_vision" / "models.py")
    # a virtualenv inside the head checkout, and the tool itself, are not the user's code
    venv_head = Path(sys.prefix).parent
    register(fake_modules, "fg_fake_dep", Path(sys.prefix) / "lib" / "fg_fake_dep.py")
    guard = ImportGuard(base, venv_head)
    assert guard.check(spec("fg_fake_vision.models:resnet"), ["fg_fake_dep", "pytest_flopguard.run.gate"]) is None
    assert ImportGuard(base, head).check(spec("fg_fake_vision.models:resnet"), []) is None


def test_inputs_factory_is_checked_too(checkouts: tuple[Path, Path], fake_modules: dict[str, str]) -> None:
    head, base = checkouts
    register(fake_modules, "fg_fake_nets.mlp", base / "src" / "fg_fake_nets" / "mlp.py")
    register(fake_modules, "fg_fake_inputs", head / "fg_fake_inputs.py")
    error = ImportGuard(base, head).check(spec(inputs="fg_fake_inputs:make"), [])
    assert error is not None and "'fg_fake_inputs'" in error.message
