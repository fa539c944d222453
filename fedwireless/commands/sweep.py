"""`fedwireless sweep SWEEP.yaml`: run a grid of scenario variants, resumably, in parallel."""

from __future__ import annotations

import argparse
from pathlib import Path

from fedwireless.commands._common import print_error


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", help="sweep YAML file (base scenario + grid/zip of overrides)")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes (default 1)")
    p.add_argument("--backend", choices=["local", "ray"], default="local", help="local processes or Ray tasks")
    p.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    p.add_argument(
        "--out", type=Path, default=None, help="sweep directory (default: out in the file, or runs/sweeps/<name>)"
    )
    p.add_argument("--no-plots", action="store_true", help="skip the sweep plots at the end")


def run(args: argparse.Namespace) -> int:
    from fedwireless.outputs.layout import INDEX_FILE
    from fedwireless.scenario import ScenarioError
    from fedwireless.sweeps import load_sweep, run_sweep

    if args.workers < 1:
        return print_error(ValueError(f"--workers: must be >= 1, got {args.workers}"))
    try:
        sweep = load_sweep(args.sweep, args.out)
    except ScenarioError as exc:
        return print_error(exc)

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    console.print(f"sweep {sweep.name}: {len(sweep.points)} points -> {sweep.out_dir}")
    with Progress(
        TextColumn("[bold]points"),
        MofNCompleteColumn(),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("points", total=len(sweep.points), status="")
        failed = 0

        def done(pt, status):
            nonlocal failed
            failed += status == "failed"
            bar.update(task, advance=1, status=f"last {pt.point_id} {status}; failed {failed}")

        try:
            counts = run_sweep(sweep, workers=args.workers, backend=args.backend, address=args.address, on_done=done)
        except ScenarioError as exc:
            return print_error(exc)
        bar.update(task, completed=len(sweep.points))
    print(f"done {counts['done']}, skipped (already finished) {counts['skipped']}, failed {counts['failed']}")
    print(f"index: {sweep.out_dir / INDEX_FILE}")
    if not args.no_plots and counts["done"] + counts["skipped"] > 0:
        from fedwireless.plotting import plot_sweep

        for f in plot_sweep(sweep.out_dir):
            print(f"plot:  {f}")
    return 1 if counts["failed"] else 0
