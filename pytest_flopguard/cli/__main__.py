"""`python -m pytest_flopguard.cli`: the `flopguard` command."""

import sys

from pytest_flopguard.cli.main import main

sys.exit(main())
