"""Time and energy of on-device computation.

Cycles model (Yang et al., IEEE TWC 2021, arXiv 1911.02417, eq. 4–5): time = C·D/f, energy = κ·C·D·f².
FLOPs model: time = FLOPs / (FLOP/s); energy = FLOPs·(J/FLOP), or
through the cycles model with cycles = FLOPs / (FLOPs per cycle).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _positive(name: str, x: ArrayLike) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if np.any(np.isnan(a)) or np.any(a <= 0):
        raise ValueError(f"{name}: must be > 0, got {np.ravel(a)[:3].tolist()}")
    return a


def _nonnegative(name: str, x: ArrayLike) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if np.any(np.isnan(a)) or np.any(a < 0):
        raise ValueError(f"{name}: must be >= 0, got {np.ravel(a)[:3].tolist()}")
    return a


def compute_time_s_cycles(cycles_per_sample: ArrayLike, num_samples: ArrayLike, cpu_hz: ArrayLike) -> np.ndarray:
    """C·D/f seconds."""
    return (
        _nonnegative("cycles_per_sample", cycles_per_sample)
        * _nonnegative("num_samples", num_samples)
        / _positive("cpu_hz", cpu_hz)
    )


def compute_energy_j_cycles(
    kappa: ArrayLike, cycles_per_sample: ArrayLike, num_samples: ArrayLike, cpu_hz: ArrayLike
) -> np.ndarray:
    """κ·C·D·f² joules (κ: effective switched capacitance, ≈ 1e-28)."""
    f = _positive("cpu_hz", cpu_hz)
    return (
        _positive("kappa", kappa)
        * _nonnegative("cycles_per_sample", cycles_per_sample)
        * _nonnegative("num_samples", num_samples)
        * f**2
    )


def compute_time_s_flops(flops: ArrayLike, flops_per_s: ArrayLike) -> np.ndarray:
    """FLOPs ÷ sustained FLOP/s."""
    return _nonnegative("flops", flops) / _positive("flops_per_s", flops_per_s)


def compute_energy_j_flops(
    flops: ArrayLike,
    *,
    j_per_flop: ArrayLike | None = None,
    kappa: ArrayLike | None = None,
    cpu_hz: ArrayLike | None = None,
    flops_per_cycle: ArrayLike | None = None,
) -> np.ndarray:
    """Energy of `flops` operations: FLOPs·j_per_flop, or κ·(FLOPs/flops_per_cycle)·f² (cycles model)."""
    n = _nonnegative("flops", flops)
    if j_per_flop is not None:
        return n * _positive("j_per_flop", j_per_flop)
    if kappa is None or cpu_hz is None or flops_per_cycle is None:
        raise ValueError("compute_energy_j_flops: give j_per_flop, or all of kappa, cpu_hz and flops_per_cycle")
    cycles = n / _positive("flops_per_cycle", flops_per_cycle)
    return _positive("kappa", kappa) * cycles * _positive("cpu_hz", cpu_hz) ** 2


def cycles_time_s(cycles: ArrayLike, *, cpu_hz: ArrayLike) -> np.ndarray:
    """C/f seconds for C cycles at f Hz (vectorized, no checks: planners mask the inputs themselves)."""
    return np.asarray(cycles, dtype=float) / np.asarray(cpu_hz, dtype=float)


def cycles_energy_j(cycles: ArrayLike, *, kappa: ArrayLike, cpu_hz: ArrayLike) -> np.ndarray:
    """κ·C·f² joules for C cycles at f Hz (Yang et al. 2021, eq. 5; vectorized, no checks)."""
    return np.asarray(kappa, dtype=float) * np.asarray(cycles, dtype=float) * np.asarray(cpu_hz, dtype=float) ** 2


def cpu_power_w(*, kappa: ArrayLike, cpu_hz: ArrayLike) -> np.ndarray:
    """κ·f³ watts while computing at f Hz: κ·C·f² joules over C/f seconds."""
    f = np.asarray(cpu_hz, dtype=float)
    return np.asarray(kappa, dtype=float) * f**3
