"""The `fedwireless` command line.

Subcommands live in their own modules and are imported only when chosen, so that
`fedwireless --help` and `fedwireless validate` never import torch or peft.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# name -> (module, one-line help). Each module provides add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("fedwireless.commands.run", "run a scenario: simulate the network and train for real"),
    "validate": ("fedwireless.commands.validate", "check a scenario file without running it"),
    "schema": ("fedwireless.commands.schema", "print the JSON Schema of scenario files"),
    "sweep": ("fedwireless.commands.sweep", "run a grid of scenario variants, resumably"),
    "plot": ("fedwireless.commands.plot", "draw plots from a run or sweep directory"),
    "link-budget": ("fedwireless.commands.link_budget", "print a link-budget table for a list of distances"),
    "list": (
        "fedwireless.commands.list",
        "list the policies, codecs, methods, models and data sets a scenario can name",
    ),
}


def build_parser(load: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fedwireless",
        description="Co-simulator for federated fine-tuning of language models over wireless networks.",
    )
    from fedwireless.version import __version__

    parser.add_argument("--version", action="version", version=f"fedwireless {__version__}")
    level = parser.add_mutually_exclusive_group()
    level.add_argument("-v", "--verbose", action="store_true", help="log details (setup steps, decisions) to stderr")
    level.add_argument("--log-quiet", action="store_true", help="log errors only (no warnings)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == load:
            importlib.import_module(module_name).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(load=chosen if chosen in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    _configure_logging(logging.DEBUG if args.verbose else logging.ERROR if args.log_quiet else logging.WARNING)
    module = importlib.import_module(COMMANDS[args.command][0])
    _stop_on_signals()
    try:
        return int(module.run(args) or 0)
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _configure_logging(level: int) -> None:
    """fedwireless's own log lines on stderr, `level: message`; libraries' stay at warnings or above."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    log = logging.getLogger("fedwireless")
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _stop_on_signals() -> None:
    """SIGTERM and SIGHUP end a run like Ctrl-C: nothing published, staging folders removed."""
    import signal

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _interrupt)


if __name__ == "__main__":
    sys.exit(main())
