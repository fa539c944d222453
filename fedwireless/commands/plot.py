"""`fedwireless plot DIR`: redraw the PNG plots of a run directory from its tables."""

from __future__ import annotations

import argparse
from pathlib import Path

from fedwireless.commands._common import print_error


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "path", type=Path, help="a run directory (rounds.csv or rounds.parquet) or a sweep directory (index.csv)"
    )
    p.add_argument("--out", type=Path, default=None, help="where to write the PNGs (default: the directory itself)")


def run(args: argparse.Namespace) -> int:
    from fedwireless.plotting import plot_any

    try:
        written = plot_any(args.path, args.out)
    except (FileNotFoundError, ValueError) as exc:
        return print_error(exc)
    for f in written:
        print(f)
    return 0
