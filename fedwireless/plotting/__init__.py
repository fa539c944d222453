"""Figures of runs and sweeps, drawn only from result tables; each figure's numbers are saved beside it as CSV."""

from __future__ import annotations

from pathlib import Path

from fedwireless.outputs.layout import is_run_dir, is_sweep_dir
from fedwireless.plotting.common import ci95, pareto_front
from fedwireless.plotting.run import plot_run
from fedwireless.plotting.sweep import plot_sweep

__all__ = ["ci95", "draw_run", "pareto_front", "plot_any", "plot_run", "plot_sweep"]


def plot_any(path: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """A run directory (rounds.csv or rounds.parquet) or a sweep directory (index.csv)."""
    p = Path(path)
    if is_run_dir(p):
        return plot_run(p, out_dir)
    if is_sweep_dir(p):
        return plot_sweep(p, out_dir)
    raise FileNotFoundError(
        f"{p}: neither a run directory (rounds.csv or rounds.parquet) nor a sweep directory (index.csv)"
    )


def draw_run(run_dir: Path, title: str) -> list[Path]:
    """The run's plots beside its tables (what `fedwireless run` and `fedwireless.run` draw)."""
    return plot_run(run_dir, title=title)
