"""`python -m kubatch.awsapi [options]`: the same as `kubatch api [options]`."""

from .command import api

api(prog_name="kubatch api")
