"""`python -m kubatch.console [options]`: the same as `kubatch console [options]`."""

from .command import console

console(prog_name="kubatch console")
