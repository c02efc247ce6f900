"""`python -m kubatch.awsapi [options]`: the same as `kubatch api [options]`."""

import sys

from ..cli.main import cli

cli(["api", *sys.argv[1:]])
