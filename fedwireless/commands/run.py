"""`fedwireless run SCENARIO`: simulate the network, train for real, write a run directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fedwireless.commands._common import add_scenario_options, load_from_args, print_error


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_scenario_options(p)
    p.add_argument("--out", type=Path, default=None, help="run directory (default: output.dir or runs/<name>)")
    p.add_argument("--overwrite", action="store_true", help="replace a previous fedwireless run in the run directory")
    p.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    p.add_argument("--rounds", type=int, default=None, help="override the number of rounds")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="train each round's clients here, or on Ray actors (federated LoRA; same tables)")  # fmt: skip
    p.add_argument("--address", default=None, help="with --backend ray: an existing cluster (default: start one here)")
    p.add_argument("--workers", type=int, default=None, help="with --backend ray: actors (default: the cluster's CPUs)")


class _Progress:
    """A rich progress bar showing round, accuracy, energy and simulated time."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.bar = Progress(
            TextColumn("[bold]round"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self.task: Any = None
        self.energy_j = 0.0
        self.metrics = (float("nan"), float("nan"))  # the last evaluation's accuracy and loss

    def setup_status(self, message: str) -> None:
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task("rounds", total=None, status=f"setting up: {message}")
        else:
            self.bar.update(self.task, status=f"setting up: {message}")

    def start(self, total_rounds: int) -> None:
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task("rounds", total=total_rounds, status="")
        else:
            self.bar.update(self.task, total=total_rounds, status="")

    def round_done(self, row: dict[str, Any]) -> None:
        self.energy_j += row["energy_j"]
        if row["accuracy"] == row["accuracy"]:  # an asynchronous step between evaluations has none: keep the last
            self.metrics = (row["accuracy"], row["loss"])
        status = (
            f"acc {self.metrics[0]:.3f}  loss {self.metrics[1]:.3f}  energy {self.energy_j:.3g} J  "
            f"sim {row['sim_time_s']:.1f} s  arrived {row['arrived']}/{row['selected']}"
        )
        self.bar.update(self.task, advance=1, status=status)

    def stop(self) -> None:
        self.bar.stop()


def _summary_table(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{summary['scenario']} — policy {summary['policy']}, seed {summary['seed']}")
    t.add_column("figure")
    t.add_column("value", justify="right")
    rows = [
        ("rounds", f"{summary['rounds']}"),
        (
            "accuracy (initial → final)",
            f"{summary['initial_accuracy']:.3f} → {summary['final_accuracy']:.3f}",
        ),
        ("final loss", f"{summary['final_loss']:.4f}"),
        ("simulated time", f"{summary['sim_time_s']:.2f} s"),
        ("energy (compute + transmit)", f"{summary['total_energy_j']:.4g} J"),
        ("  of which transmit", f"{summary['total_tx_energy_j']:.4g} J"),
        (
            "uplink on air / downlink",
            f"{summary['total_uplink_bits'] / 8e6:.3f} / {summary['total_downlink_bits'] / 8e6:.3f} MB",
        ),
        (
            "  uplink attempted / delivered",
            f"{summary['total_uplink_attempted_bits'] / 8e6:.3f} / "
            f"{summary['total_uplink_delivered_bits'] / 8e6:.3f} MB",
        ),
        ("updates arrived / selected", f"{summary['updates_arrived']} / {summary['updates_selected']}"),
        ("learning", f"{summary.get('learning')} ({summary.get('training_path', '')})"),
        ("wall time", f"{summary['wall_time_s']:.1f} s"),
    ]
    if "final_perplexity" in summary:
        rows.insert(3, ("final perplexity", f"{summary['final_perplexity']:.4f}"))
    if "final_macro_f1" in summary:
        rows.insert(
            3,
            (
                "macro-F1 / balanced accuracy",
                f"{summary['final_macro_f1']:.3f} / {summary['final_balanced_accuracy']:.3f}",
            ),
        )
        rows.insert(4, ("majority-class baseline", f"{summary['final_majority_baseline']:.3f}"))
    if "device_accuracy_mean" in summary:
        mean, worst = summary["device_accuracy_mean"], summary["device_accuracy_worst10"]
        rows.insert(3, ("device accuracy (mean / worst 10 %)", f"{mean:.3f} / {worst:.3f}"))
    cut = summary.get("truncated_share")
    if isinstance(cut, dict):
        rows.append(
            ("texts cut at max_seq_len (train / test)", f"{100 * cut['train']:.1f} % / {100 * cut['test']:.1f} %")
        )
    for name, value in rows:
        t.add_row(name, value)
    Console().print(t)


def run(args: argparse.Namespace) -> int:
    from fedwireless.scenario import ScenarioError

    extra: dict[str, Any] = {}
    if args.seed is not None:
        extra["seed"] = args.seed
    if args.rounds is not None:
        extra["rounds"] = args.rounds
    try:
        sc = load_from_args(args, extra)
    except ScenarioError as exc:
        return print_error(exc)

    from fedwireless.outputs.files import OutputError, check_output
    from fedwireless.outputs.layout import DEVICES_FILE, ROUNDS_FILE, SUMMARY_FILE, TIMING_FILE, table_file
    from fedwireless.plotting import draw_run
    from fedwireless.sim.run import default_out_dir, run_scenario

    out = args.out or default_out_dir(sc)
    try:
        check_output(Path(out), args.overwrite)
    except OutputError as exc:
        return print_error(exc)
    progress = None if args.quiet else _Progress()
    try:
        summary = run_scenario(
            sc, out, callbacks=progress, draw=None if args.no_plots else draw_run, overwrite=args.overwrite,
            backend=args.backend, address=args.address, workers=args.workers,
        )  # fmt: skip
    except (ValueError, FileNotFoundError) as exc:
        # Problems only found while setting up (a missing data file, an unusable local model): user errors.
        if progress:
            progress.stop()
        return print_error(exc)
    except KeyboardInterrupt:
        if progress:
            progress.stop()
        print("interrupted: no results written", file=sys.stderr)
        return 130
    if progress:
        progress.stop()
    _summary_table(summary)
    if summary.get("diverged"):
        print(
            f"warning: training diverged at round {summary['diverged_at_round']} (a loss that is not finite, or a "
            "client's training loss above 1e6); "
            "the run stopped there and its tables end with that round. Try a smaller task.lr.",
            file=sys.stderr,
        )
    files = ", ".join(table_file(summary["run_dir"], f).name for f in (ROUNDS_FILE, DEVICES_FILE, TIMING_FILE))
    files += f", {SUMMARY_FILE}"
    print(f"results: {summary['run_dir']}/ ({files})")
    if summary.get("plots"):
        print(f"plots:   {', '.join(str(Path(summary['run_dir']) / p) for p in summary['plots'])}")
    idle, rounds = summary.get("rounds_without_training", 0), summary["rounds"]
    if rounds and idle == rounds:
        print(f"warning: no device trained in any of the {rounds} rounds: the figures above are the untrained "
              "model's (see the warnings above for why)", file=sys.stderr)  # fmt: skip
    elif idle:
        print(f"warning: {idle} of {rounds} rounds trained no device", file=sys.stderr)
    return 0
