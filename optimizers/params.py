"""Policy names and parameter rules, checked without importing numpy or scipy (the `validate` path).

tests/optimizers check that this table matches the policy classes' constructors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

POLICY_PARAMS: dict[str, tuple[str, ...]] = {
    "uniform": ("rank",),
    "fixed": ("rank", "power_w", "bandwidth_hz"),
    "random": ("solver",),
    "fixed-rank": ("which", "solver"),
    "greedy": ("solver",),
    "energy-min": ("solver", "dvfs_iterations"),
    "lyapunov": ("V", "solver", "max_iterations", "ema", "miss_penalty", "price_packet_errors"),
}
WRAPPER_PARAMS = ("energy_cap_j",)  # accepted by every policy: wraps it in EnergyCap

POLICY_DOCS: dict[str, str] = {
    "uniform": "every available device, one rank, equal bandwidth, full power",
    "fixed": "every available device at a given rank, power and bandwidth",
    "random": "a random rank per available device, energy-minimal bandwidth split",
    "fixed-rank": "every device at the smallest or largest rank that fits, energy-minimal split",
    "greedy": "largest rank each device can finish in time, energy-minimal split",
    "energy-min": "minimum-energy rank, bandwidth, power and CPU frequency that meet the deadline",
    "lyapunov": "drift-plus-penalty: V·learning penalty + Σ queue·energy, over ranks, power, bandwidth, CPU",
}
PARAM_DOCS: dict[str, str] = {
    "rank": "LoRA rank to train (one of federated.ranks; 0 = full-parameter module)",
    "power_w": "transmit power [W] (default: the device's maximum)",
    "bandwidth_hz": "uplink bandwidth per device [Hz] (default: an equal share of the cell)",
    "solver": "bandwidth split: lambertw (closed form) or cvxpy",
    "which": "smallest or largest rank",
    "dvfs_iterations": "rounds of split / CPU-frequency alternation (cycles compute model)",
    "V": "Lyapunov trade-off: weight of the learning penalty against the energy queues",
    "max_iterations": "passes of rank switching, split and power per round",
    "ema": "smoothing of the measured rank residuals",
    "miss_penalty": "penalty G of a device that does not deliver an update",
    "price_packet_errors": "with packet errors, split bandwidth again pricing them (false: the energy-minimal split)",
    "energy_cap_j": "hard per-round energy cap per device (wraps any policy)",
}


def _number(v: Any) -> bool:
    """A finite int or float (inf and nan are no parameter values: V = inf would select no device)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    return abs(v) < 1e300 if isinstance(v, int) else math.isfinite(v)  # 10**400 is no float either


RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "V": (lambda v: _number(v) and v > 0, "must be a finite number > 0"),
    "rank": (
        lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0),
        "must be a non-negative integer",
    ),
    "power_w": (lambda v: v is None or (_number(v) and v > 0), "must be a finite number > 0"),
    "bandwidth_hz": (lambda v: v is None or (_number(v) and v > 0), "must be a finite number > 0"),
    "solver": (lambda v: v in ("lambertw", "cvxpy"), "must be one of lambertw, cvxpy"),
    "which": (lambda v: v in ("smallest", "largest"), "must be one of smallest, largest"),
    "max_iterations": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "must be an integer >= 1"),
    "ema": (lambda v: _number(v) and 0 < v <= 1, "must be in (0, 1]"),
    "miss_penalty": (lambda v: _number(v) and v > 0, "must be a finite number > 0"),
    "price_packet_errors": (lambda v: isinstance(v, bool), "must be true or false"),
    "dvfs_iterations": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "must be an integer >= 0"),
    "energy_cap_j": (lambda v: _number(v) and v > 0, "must be a finite number > 0"),
}


def validate_policy_params(name: str, params: Mapping[str, Any]) -> None:
    """Raise ValueError naming the parameter, the rule and the value (or the known policy names)."""
    if name not in POLICY_PARAMS:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICY_PARAMS)}")
    allowed = POLICY_PARAMS[name] + WRAPPER_PARAMS
    for key, value in params.items():
        if key not in allowed:
            raise ValueError(f"unknown parameter {key!r} for policy {name!r}; allowed: {', '.join(allowed)}")
        check, rule = RULES[key]
        if not check(value):
            raise ValueError(f"{key}: {rule}, got {value!r}")
