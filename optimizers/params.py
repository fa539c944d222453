"""Policy names and parameter rules, checked without importing numpy or scipy (the `validate` path).

tests/optimizers check that this table matches the policy classes' constructors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

POLICY_PARAMS: dict[str, tuple[str, ...]] = {
    "uniform": ("rank",),
    "fixed": ("rank", "power_w", "bandwidth_hz"),
    "random": ("solver",),
    "fixed-rank": ("which", "solver"),
    "greedy": ("solver",),
    "energy-min": ("solver", "dvfs_iterations"),
    "lyapunov": ("V", "solver", "max_iterations", "ema", "miss_penalty"),
}
WRAPPER_PARAMS = ("energy_cap_j",)  # accepted by every policy: wraps it in EnergyCap


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "V": (lambda v: _number(v) and v > 0, "must be > 0"),
    "rank": (
        lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0),
        "must be a non-negative integer",
    ),
    "power_w": (lambda v: v is None or (_number(v) and v > 0), "must be > 0"),
    "bandwidth_hz": (lambda v: v is None or (_number(v) and v > 0), "must be > 0"),
    "solver": (lambda v: v in ("lambertw", "cvxpy"), "must be one of lambertw, cvxpy"),
    "which": (lambda v: v in ("smallest", "largest"), "must be one of smallest, largest"),
    "max_iterations": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "must be an integer >= 1"),
    "ema": (lambda v: _number(v) and 0 < v <= 1, "must be in (0, 1]"),
    "miss_penalty": (lambda v: _number(v) and v > 0, "must be > 0"),
    "dvfs_iterations": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "must be an integer >= 0"),
    "energy_cap_j": (lambda v: _number(v) and v > 0, "must be > 0"),
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
