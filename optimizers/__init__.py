"""Per-round resource allocation: module switching, power and bandwidth (numpy, scipy, cvxpy; no simpy, no torch).

Names are imported on first use, so that checking a scenario's policy (`validate_policy_params`) does not
pay for numpy and scipy.
"""

from __future__ import annotations

import importlib
from typing import Any

from optimizers.params import POLICY_PARAMS, validate_policy_params

_LAZY = {
    "POLICIES": "optimizers.policies",
    "EnergyCap": "optimizers.policies",
    "make_policy": "optimizers.policies",
    "split_energy_min": "optimizers.planning",
    "predicted_energy_j": "optimizers.planning",
    "Lyapunov": "optimizers.lyapunov",
    "energy_min_bandwidth": "optimizers.split",
    "energy_min_bandwidth_cvxpy": "optimizers.split",
    "energy_min_split": "optimizers.split",
    "min_completion_time_s": "optimizers.solvers",
    "min_power_for_deadline_w": "optimizers.solvers",
    "tx_power_for_window_w": "optimizers.solvers",
    "Allocation": "optimizers.types",
    "EnergyQueue": "optimizers.queue",
    "Policy": "optimizers.types",
    "RoundOutcome": "optimizers.types",
    "RoundState": "optimizers.types",
}

__all__ = ["POLICY_PARAMS", "validate_policy_params", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'optimizers' has no attribute {name!r}")
