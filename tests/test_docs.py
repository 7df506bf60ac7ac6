"""Every error code the package can raise is documented, once."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_error_code_is_in_docs_errors_md() -> None:
    used = set()
    for path in (ROOT / "pytest_flopguard").rglob("*.py"):
        used |= set(re.findall(r'"(FG\d{3})"', path.read_text(encoding="utf-8")))
    rows = re.findall(r"^\| (FG\d{3}) \|", (ROOT / "docs" / "errors.md").read_text(encoding="utf-8"), re.M)
    assert sorted(used - set(rows)) == []
    assert len(rows) == len(set(rows)), "a code is documented twice"
