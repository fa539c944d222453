"""Why a round trains nobody, in numbers: the warning a run prints instead of quietly staying untrained.

A device fits a round when its downlink plus its fastest module's local training end before the deadline
(its upload needs time too, so fitting is necessary, not sufficient). When no device fits, the message
names the one closest to fitting, with the figures behind its compute time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _closest(compute_s: np.ndarray, downlink_s: np.ndarray, among: np.ndarray) -> tuple[int, int]:
    """(device, module) with the smallest downlink + compute time among the devices `among`."""
    total = np.where(among[:, None], downlink_s[:, None] + compute_s, np.inf)
    d, m = np.unravel_index(int(np.argmin(total)), total.shape)
    return int(d), int(m)


def _figures(d: int, m: int, compute_s, downlink_s, flops, flops_per_s, steps, names, deadline_s) -> str:
    per_step = flops[d, m] / max(int(steps[d]), 1)
    dl = f"downlink {downlink_s[d]:.3g} s + " if np.isfinite(downlink_s[d]) and downlink_s[d] > 0 else ""
    return (f"{dl}compute {compute_s[d, m]:.3g} s ({int(steps[d])} steps × {per_step / 1e9:.3g} GFLOP at "
            f"{flops_per_s[d]:.2g} FLOP/s, {names[d]}) > deadline {deadline_s:g} s")  # fmt: skip


def untrainable(compute_s, flops, flops_per_s, steps, names: Sequence[str], deadline_s: float) -> str | None:
    """Before the first round: a message when no device's local training alone fits the deadline."""
    compute_s = np.asarray(compute_s, dtype=float)
    if (compute_s.min(axis=1) <= deadline_s).any():
        return None
    zero = np.zeros(len(compute_s))
    d, m = _closest(compute_s, zero, np.ones(len(compute_s), dtype=bool))
    return ("no device can finish its local training before the deadline, so no round will train: fastest "
            + _figures(d, m, compute_s, zero, flops, flops_per_s, steps, names, deadline_s)
            + "; raise deadline_s, lower task.local_steps or task.batch_size, or use faster devices")  # fmt: skip


def idle_round(round_index: int, available, compute_s, downlink_s, flops, flops_per_s, steps, names,
               deadline_s: float, policy: str) -> str:  # fmt: skip
    """A round whose policy selected no device: why, with the numbers."""
    available = np.asarray(available, dtype=bool)
    compute_s, downlink_s = np.asarray(compute_s, dtype=float), np.asarray(downlink_s, dtype=float)
    head = f"round {round_index}: no device trained"
    if not available.any():
        return f"{head}: none of the {len(available)} devices is available"
    fits = available & ((downlink_s[:, None] + compute_s).min(axis=1) <= deadline_s)
    n_avail = int(available.sum())
    if fits.any():
        return f"{head}: {int(fits.sum())} of {n_avail} available devices fit the deadline, policy {policy} chose none"
    d, m = _closest(compute_s, downlink_s, available)
    return (f"{head}: {n_avail} of {n_avail} available devices infeasible; closest: "
            + _figures(d, m, compute_s, downlink_s, flops, flops_per_s, steps, names, deadline_s))  # fmt: skip
