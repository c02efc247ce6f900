"""`python -m kubatch.console [options]`: the same as `kubatch console [options]`."""

import sys

from ..cli.main import cli

cli(["console", *sys.argv[1:]])
