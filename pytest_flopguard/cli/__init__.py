"""The `flopguard` command line: the core commands, the CI ones, the pre-commit hook and the demo."""

from pytest_flopguard.cli.main import main

__all__ = ["main"]
