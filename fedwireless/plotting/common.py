"""What every figure shares: a headless pyplot, atomic saving, confidence intervals, integer ticks, Pareto fronts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def pyplot():
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


def save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
    pyplot().close(fig)
    return path


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated when energy (x) is minimised and accuracy (y) maximised."""
    idx = []
    for i, (e, a) in enumerate(points):
        dominated = any((e2 <= e and a2 >= a) and (e2 < e or a2 > a) for j, (e2, a2) in enumerate(points) if j != i)
        if not dominated:
            idx.append(i)
    return sorted(idx, key=lambda i: points[i][0])
