"""Plots drawn only from result tables (rounds.csv, devices.csv, summary.json, sweep index.csv).

Every figure has a title, axis labels with units and a legend, so it reads without the code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def ci95(sd: float, n: int) -> float:
    """Half-width of the 95 % confidence interval of a mean of n samples (Student's t); 0 for n < 2."""
    if n < 2 or not np.isfinite(sd):
        return 0.0
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1) * sd / np.sqrt(n))


def integer_ticks(ax, axis: str = "x") -> None:
    from matplotlib.ticker import MaxNLocator

    (ax.xaxis if axis == "x" else ax.yaxis).set_major_locator(MaxNLocator(integer=True))


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
    _plt().close(fig)
    return path


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None, title: str | None = None) -> list[Path]:
    """Accuracy against round, simulated time and cumulative energy; device energy against budget."""
    plt = _plt()
    run = Path(run_dir)
    out = Path(out_dir) if out_dir else run
    rounds = pd.read_csv(run / "rounds.csv")
    devices = pd.read_csv(run / "devices.csv")
    out.mkdir(parents=True, exist_ok=True)
    name = run.name
    summary_file = run / "summary.json"
    if summary_file.is_file():
        s = json.loads(summary_file.read_text())
        name = f"{s.get('scenario', name)} — policy {s.get('policy', '')}, seed {s.get('seed', '?')}"
    name = title or name
    written = []

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    energy = rounds["energy_j"].cumsum()
    for ax, x, label in (
        (axes[0], rounds["round"], "round"),
        (axes[1], rounds["sim_time_s"], "simulated time (s)"),
        (axes[2], energy, "cumulative energy, all devices (J)"),
    ):
        ax.plot(x, rounds["accuracy"], marker="o", ms=3, label="global model, test split")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy")
    integer_ticks(axes[0])
    axes[0].legend(loc="lower right")
    fig.suptitle(f"Accuracy — {name}")
    written.append(_save(fig, out / "accuracy.png"))

    per_dev = devices.groupby("device").agg(
        energy_j=("energy_j", "mean"), budget_j=("energy_budget_j", "first"), group=("group", "first")
    )
    # Wide enough to read at 5 devices, bounded at 300: past 60 devices the bars are unlabelled strokes.
    fig, ax = plt.subplots(figsize=(min(max(6.0, 0.25 * len(per_dev) + 3), 14.0), 3.8))
    width = 0.8 if len(per_dev) <= 60 else 1.0
    for g, part in per_dev.groupby("group"):
        ax.bar(part.index, part["energy_j"], width=width, label=f"{g}: mean energy per round")
    finite = per_dev["budget_j"].replace([np.inf, -np.inf], np.nan).dropna()
    if len(finite):
        ax.scatter(
            finite.index,
            finite.values,
            marker="_",
            s=200 if len(per_dev) <= 60 else 20,
            color="black",
            label="energy budget per round",
        )
    ax.set_xlabel("device")
    integer_ticks(ax)
    ax.set_ylabel("energy per round (J)")
    ax.set_title(f"Average energy per device against its budget — {name}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    per_dev.reset_index().to_csv(out / "device_energy.csv", index=False, float_format="%.9g")
    written.append(_save(fig, out / "device_energy.png"))
    return written


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated when energy (x) is minimised and accuracy (y) maximised."""
    idx = []
    for i, (e, a) in enumerate(points):
        dominated = any((e2 <= e and a2 >= a) and (e2 < e or a2 > a) for j, (e2, a2) in enumerate(points) if j != i)
        if not dominated:
            idx.append(i)
    return sorted(idx, key=lambda i: points[i][0])


def plot_any(path: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """A run directory (rounds.csv) or a sweep directory (index.csv)."""
    p = Path(path)
    if (p / "rounds.csv").is_file():
        return plot_run(p, out_dir)
    if (p / "index.csv").is_file():
        from fedwireless.sweep_plots import plot_sweep

        return plot_sweep(p, out_dir)
    raise FileNotFoundError(f"{p}: neither a run directory (rounds.csv) nor a sweep directory (index.csv)")
