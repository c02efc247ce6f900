"""`python -m kubatch.controller [--namespace NS ...] [--liveness URL]`: run the operator."""

from __future__ import annotations

import argparse
import cProfile
import os
import sys

import kopf

from ..config import ConfigError, OperatorConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubatch-operator", description=__doc__)
    parser.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        help="watch only these namespaces (default: all)",
    )
    parser.add_argument("--liveness", default=None, help="e.g. http://0.0.0.0:8080/healthz")
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)
    try:
        config = OperatorConfig.from_environment(os.environ)
    except ConfigError as e:
        print(f"kubatch-operator: {e}", file=sys.stderr)
        return 2
    from . import operator  # registers the handlers

    operator.CONTROLLER.config = config
    # Served by the operator itself, from the start: kopf's own endpoint only answers once
    # every startup handler is done, and a standby's waits for leadership.
    operator.CONTROLLER.liveness = args.liveness
    # kopf's own handler is the only one: one line per record, as text or as JSON.
    log_format = kopf.LogFormat.JSON if config.log_format == "json" else kopf.LogFormat.FULL
    kopf.configure(verbose=args.verbose, log_format=log_format)
    profiler = cProfile.Profile() if config.profile_file else None
    if profiler is not None:
        profiler.enable()
    try:
        kopf.run(
            standalone=True,
            clusterwide=not args.namespace,
            namespaces=args.namespace,
        )
    finally:
        if profiler is not None and config.profile_file:
            profiler.disable()
            profiler.dump_stats(config.profile_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
