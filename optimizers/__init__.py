"""Per-round resource allocation: module switching, power and bandwidth (numpy, scipy, cvxpy; no simpy, no torch)."""

from optimizers.policies import POLICIES, EnergyCap, make_policy, split_energy_min, validate_policy_params
from optimizers.solvers import (
    energy_min_bandwidth,
    energy_min_bandwidth_cvxpy,
    min_completion_time_s,
    min_power_for_deadline_w,
    tx_power_for_window_w,
)
from optimizers.types import Allocation, Policy, RoundOutcome, RoundState

__all__ = [
    "POLICIES",
    "Allocation",
    "EnergyCap",
    "Policy",
    "RoundOutcome",
    "RoundState",
    "energy_min_bandwidth",
    "energy_min_bandwidth_cvxpy",
    "make_policy",
    "min_completion_time_s",
    "min_power_for_deadline_w",
    "split_energy_min",
    "tx_power_for_window_w",
    "validate_policy_params",
]
