"""Real wheels made in a test: a stand-in distribution, or one repacked from this environment.

A wheel is a zip of the files to install plus a `NAME-VERSION.dist-info`
folder (METADATA, WHEEL, RECORD with each file's sha256); pip installs
these exactly as it installs one from PyPI. Used to fill a local package
index (a `--find-links` folder) that a test controls completely.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

_LEFT_OUT = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}  # written by pip at install, not in wheels


def write_wheel(folder: Path, name: str, version: str, files: Mapping[str, bytes], tag: str = "py3-none-any") -> Path:
    """`folder/NAME-VERSION-TAG.whl` holding `files` (path in site-packages -> content)."""
    info = f"{name}-{version}.dist-info"
    files = dict(files)
    files.setdefault(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode())
    files.setdefault(
        f"{info}/WHEEL", f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: {tag}\n".encode()
    )
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name.replace('-', '_')}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def torch_like(folder: Path, dist_version: str, module_version: str) -> Path:
    """A `torch` whose distribution is `dist_version` and whose `torch.__version__` is
    `module_version`: PyPI's Linux build is 2.14.1 to pip but says 2.14.1+cu130 when imported."""
    init = f"__version__ = {module_version!r}\n".encode()
    return write_wheel(folder, "torch", dist_version, {"torch/__init__.py": init})


def repack_installed(folder: Path, name: str) -> Path:
    """A wheel of an installed pure-Python distribution of this environment (its RECORD's files),
    so that a fresh venv can install it with no index at all."""
    dist = metadata.distribution(name)
    info = next(f for f in dist.files or () if f.name == "METADATA").parent
    tag = next(
        line.split(":", 1)[1].strip()
        for line in (dist.read_text("WHEEL") or "").splitlines()
        if line.startswith("Tag:")
    )
    files = {}
    for entry in dist.files or ():
        path = entry.as_posix()
        if path.startswith("..") or "__pycache__" in path or (entry.parent == info and entry.name in _LEFT_OUT):
            continue  # scripts outside site-packages, bytecode, and what pip writes itself
        files[path] = Path(str(entry.locate())).read_bytes()
    return write_wheel(folder, dist.metadata["Name"], dist.version, files, tag)
