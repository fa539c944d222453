"""Plots of one run directory, drawn only from its tables (rounds.csv, devices.csv, summary.json).

Every figure has a title, axis labels with units and a legend, so it reads without the code.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from fedwireless.outputs.layout import SUMMARY_FILE, read_run
from fedwireless.plotting.common import integer_ticks, pyplot, save


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None, title: str | None = None) -> list[Path]:
    """Accuracy against round, simulated time and cumulative energy; device energy against budget."""
    plt = pyplot()
    run = Path(run_dir)
    out = Path(out_dir) if out_dir else run
    # Only what the figures draw: a 1,000,000-device run's table is several GB with every column.
    columns = ["round", "device", "group", "energy_j", "energy_budget_j", "eval_reward", "eval_reward_global"]
    rounds, devices = read_run(run, columns)
    out.mkdir(parents=True, exist_ok=True)
    name = run.name
    summary_file = run / SUMMARY_FILE
    if summary_file.is_file():
        s = json.loads(summary_file.read_text())
        name = f"{s.get('scenario', name)} — policy {s.get('policy', '')}, seed {s.get('seed', '?')}"
    name = title or name
    written = []

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    rounds = rounds.assign(cumulative_energy_j=rounds["energy_j"].cumsum())
    rounds = rounds[rounds["accuracy"].notna()]  # asynchronous steps between evaluations have none
    energy = rounds["cumulative_energy_j"]
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
    written.append(save(fig, out / "accuracy.png"))

    if len(devices):  # none with output.device_rows: none
        written.append(_device_energy(plt, devices, out, name))
    if "eval_reward" in devices and devices["eval_reward"].notna().any():
        written.append(plot_device_rewards(devices[devices["round"] == devices["round"].max()], out, name))
    return written


def plot_device_rewards(last: pd.DataFrame, out: Path, name: str) -> Path:
    """Personalized fine-tuning: each device's reward with its own model against the global model's (last round);
    `last` may hold several runs (seeds): the bars are their means."""
    plt = pyplot()
    table = last.groupby("device").agg(
        group=("group", "first"),
        reward=("eval_reward", "mean"),
        reward_global=("eval_reward_global", "mean"),
        runs=("eval_reward", "count"),
    )
    fig, ax = plt.subplots(figsize=(min(max(6.0, 0.4 * len(table) + 3), 14.0), 3.8))
    ax.bar(table.index - 0.2, table["reward"], width=0.4, label="own (personalized) model")
    ax.bar(table.index + 0.2, table["reward_global"], width=0.4, label="global model")
    title = f"Reward of greedy answers to each device's held-out prompts — {name}"
    ylabel = "quality reward at the device's preference"
    return _per_device(fig, ax, "device", ylabel, title, table, out / "device_reward")


def _device_energy(plt, devices: pd.DataFrame, out: Path, name: str) -> Path:
    """Mean energy per round of each device against its budget: bars up to 2,000 devices, then each group's
    devices sorted by energy as a line (as many bars would take minutes to draw and show nothing)."""
    per_dev = devices.groupby("device").agg(
        energy_j=("energy_j", "mean"), budget_j=("energy_budget_j", "first"), group=("group", "first")
    )
    many = len(per_dev) > 2000
    # Wide enough to read at 5 devices, bounded at 300: past 60 devices the bars are unlabelled strokes.
    fig, ax = plt.subplots(figsize=(min(max(6.0, 0.25 * len(per_dev) + 3), 14.0), 3.8))
    width = 0.8 if len(per_dev) <= 60 else 1.0
    for g, part in per_dev.groupby("group"):
        if many:
            ax.plot(np.sort(part["energy_j"].to_numpy())[::-1], label=f"{g}: mean energy per round, sorted")
        else:
            ax.bar(part.index, part["energy_j"], width=width, label=f"{g}: mean energy per round")
    finite = per_dev["budget_j"].replace([np.inf, -np.inf], np.nan).dropna()
    if len(finite) and not many:
        ax.scatter(finite.index, finite.values, marker="_", s=200 if len(per_dev) <= 60 else 20, color="black",
                   label="energy budget per round")  # fmt: skip
    elif len(finite):
        for budget in np.unique(finite.values):
            ax.axhline(budget, color="black", lw=0.8, ls="--")
    xlabel = "device, in order of energy within its group" if many else "device"
    title = f"Average energy per device against its budget — {name}"
    return _per_device(fig, ax, xlabel, "energy per round (J)", title, per_dev, out / "device_energy")


def _per_device(fig, ax, xlabel: str, ylabel: str, title: str, table: pd.DataFrame, stem: Path) -> Path:
    """A per-device figure's labels and legend; its data beside it as CSV (stem.csv), the figure as stem.png."""
    ax.set_xlabel(xlabel)
    integer_ticks(ax)
    ax.set_ylabel(ylabel)
    ax.set_title("\n".join(textwrap.wrap(title, 48)), fontsize=10)  # a narrow figure cut long titles off
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    table.reset_index().to_csv(stem.with_suffix(".csv"), index=False, float_format="%.9g")
    return save(fig, stem.with_suffix(".png"))
