"""Shared pieces of the subcommands: loading a scenario with overrides, printing user errors."""

from __future__ import annotations

import argparse
import sys
from typing import Any

USER_ERROR = 2


def add_scenario_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a scenario field, e.g. --set policy.params.V=10 --set devices[0].count=20 (repeatable)",
    )


def load_from_args(args: argparse.Namespace, extra: dict[str, Any] | None = None):
    """Load and validate the scenario named on the command line; raise ScenarioError on bad input."""
    from fedwireless.scenario import load_scenario, parse_set_options

    overrides = parse_set_options(args.overrides)
    overrides.update(extra or {})
    return load_scenario(args.scenario, overrides)


def print_error(exc: BaseException) -> int:
    """One line per problem on stderr, no traceback; returns the user-error exit code."""
    messages = getattr(exc, "messages", None)
    source = getattr(exc, "source", None)
    if messages:
        for m in messages:
            print(f"error: {source}: {m}" if source else f"error: {m}", file=sys.stderr)
    else:
        print(f"error: {exc}", file=sys.stderr)
    return USER_ERROR
