"""`fedwireless schema`: print the JSON Schema of scenario files (for editor autocompletion)."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--indent", type=int, default=2, help="JSON indentation (default 2)")


def run(args: argparse.Namespace) -> int:
    from fedwireless.scenario import json_schema

    print(json.dumps(json_schema(), indent=args.indent))
    return 0
