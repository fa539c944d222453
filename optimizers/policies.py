"""Resource-allocation policies: who trains which module, at what power, over how much bandwidth.

Every policy implements `decide(state) -> Allocation` and `observe(outcome)`. Constraints such as a
hard per-round energy cap are added by wrapping a policy (`EnergyCap`), not by subclassing. The shared
planning pieces live in `optimizers.planning`, the Lyapunov controller in `optimizers.lyapunov`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from optimizers.lyapunov import Lyapunov
from optimizers.params import validate_policy_params
from optimizers.planning import (
    SKIP,
    bandwidth_needed_at_pmax,
    candidates,
    cap_clients,
    dvfs_step,
    finish,
    initial_reasons,
    predicted_energy_j,
    split_energy_min,
)
from optimizers.types import Allocation, Policy, RoundOutcome, RoundState


class Uniform:
    """Every available device trains one module; equal bandwidth in its cell; full power; full CPU speed.

    Devices whose uplink cannot carry a bit ('no-link') or whose module cannot even start uploading
    before the deadline ('infeasible') are skipped; the rest try, and the engine drops late ones.
    """

    name = "uniform"
    uses_rank_residual = False
    energy_queue = None

    def __init__(self, rng: np.random.Generator, rank: int | None = None) -> None:
        self.rank = rank

    def _module_index(self, state: RoundState) -> int:
        if self.rank is None:
            return len(state.ranks) - 1
        if self.rank not in state.ranks:
            raise ValueError(f"rank: {self.rank} is not among the scenario's ranks {list(state.ranks)}")
        return state.ranks.index(self.rank)

    def decide(self, state: RoundState) -> Allocation:
        reason = initial_reasons(state)
        m = self._module_index(state)
        window = state.upload_window_s(state.cpu_hz_max)[:, m]
        for d in candidates(reason):
            if not window[d] > 0:
                reason[d] = "infeasible"
        cand = cap_clients(state, candidates(reason), -np.nan_to_num(state.gain_lin, nan=0.0))
        module = np.full(state.num_devices, SKIP)
        module[cand] = m
        bandwidth = np.zeros(state.num_devices)
        for c, pool in enumerate(state.cell_bandwidth_hz):
            here = cand[state.cell[cand] == c]
            share = pool / max(len(here), 1)
            if np.isfinite(share) and share > 0:
                bandwidth[here] = share
            else:
                module[here] = SKIP
                for d in here:
                    reason[d] = "infeasible"
        return finish(state, module, state.p_max_w, bandwidth, reason)

    def observe(self, outcome: RoundOutcome) -> None:
        pass


class Fixed(Uniform):
    """Every available device trains `rank` at the given power and bandwidth (for hand-made studies)."""

    name = "fixed"

    def __init__(
        self,
        rng: np.random.Generator,
        rank: int | None = None,
        power_w: float | None = None,
        bandwidth_hz: float | None = None,
    ) -> None:
        super().__init__(rng, rank)
        self.power_w, self.bandwidth_hz = power_w, bandwidth_hz

    def decide(self, state: RoundState) -> Allocation:
        alloc = super().decide(state)
        power = np.full(state.num_devices, self.power_w) if self.power_w is not None else state.p_max_w
        bw = np.full(state.num_devices, self.bandwidth_hz) if self.bandwidth_hz is not None else alloc.bandwidth_hz
        for c, pool in enumerate(state.cell_bandwidth_hz):
            used = bw[(alloc.module >= 0) & (state.cell == c)].sum()
            if used > pool * (1 + 1e-9):
                raise ValueError(f"bandwidth_hz: {used:g} Hz requested in cell {c} exceeds its pool of {pool:g} Hz")
        return finish(state, alloc.module, np.minimum(power, state.p_max_w), bw, list(alloc.skip_reason))


class RandomPolicy:
    """Each available device picks a module or skip uniformly at random; energy-minimal split."""

    name = "random"
    uses_rank_residual = False
    energy_queue = None

    def __init__(self, rng: np.random.Generator, solver: str = "lambertw") -> None:
        self.rng, self.solver = rng, solver

    def decide(self, state: RoundState) -> Allocation:
        reason = initial_reasons(state)
        draw = self.rng.integers(-1, len(state.ranks), state.num_devices)
        cand_mask = np.array([r == "" for r in reason], dtype=bool)
        module = np.where(cand_mask, draw, SKIP)
        cand = np.flatnonzero(module >= 0)
        keep = cap_clients(state, cand, self.rng.random(state.num_devices))
        module[np.setdiff1d(cand, keep)] = SKIP
        module, p, b, repairs = split_energy_min(state, module, reason, self.solver)
        return finish(state, module, p, b, reason, {"infeasible_repairs": repairs})

    def observe(self, outcome: RoundOutcome) -> None:
        pass


class FixedRank:
    """Every available device trains the smallest or largest module; energy-minimal split."""

    name = "fixed-rank"
    uses_rank_residual = False
    energy_queue = None

    def __init__(self, rng: np.random.Generator, which: str = "largest", solver: str = "lambertw") -> None:
        self.which, self.solver = which, solver

    def decide(self, state: RoundState) -> Allocation:
        reason = initial_reasons(state)
        cand = cap_clients(state, candidates(reason), -np.nan_to_num(state.gain_lin, nan=0.0))
        module = np.full(state.num_devices, SKIP)
        module[cand] = 0 if self.which == "smallest" else len(state.ranks) - 1
        module, p, b, repairs = split_energy_min(state, module, reason, self.solver)
        return finish(state, module, p, b, reason, {"infeasible_repairs": repairs})

    def observe(self, outcome: RoundOutcome) -> None:
        pass


class Greedy:
    """Best channels first, no memory: add devices by gain at the largest module that still fits."""

    name = "greedy"
    uses_rank_residual = False
    energy_queue = None

    def __init__(self, rng: np.random.Generator, solver: str = "lambertw") -> None:
        self.solver = solver

    def decide(self, state: RoundState) -> Allocation:
        reason = initial_reasons(state)
        need = bandwidth_needed_at_pmax(state)
        order = np.argsort(-np.nan_to_num(state.gain_lin, nan=0.0), kind="stable")
        module = np.full(state.num_devices, SKIP)
        chosen = 0
        used = np.zeros(len(state.cell_bandwidth_hz))
        for d in order:
            if reason[d] or (state.max_clients is not None and chosen >= state.max_clients):
                continue
            c = state.cell[d]
            for m in range(len(state.ranks) - 1, -1, -1):
                if used[c] + need[d, m] <= state.cell_bandwidth_hz[c]:
                    module[d], used[c] = m, used[c] + need[d, m]
                    chosen += 1
                    break
            else:
                reason[d] = "infeasible"
        module, p, b, repairs = split_energy_min(state, module, reason, self.solver)
        return finish(state, module, p, b, reason, {"infeasible_repairs": repairs})

    def observe(self, outcome: RoundOutcome) -> None:
        pass


class EnergyMin(FixedRank):
    """Yang et al. 2021: every available device meets the deadline at least energy (largest module).

    Where devices have a CPU frequency range, compute and upload share the round: the bandwidth split
    (KKT, given each device's window) alternates with each device's energy-minimal frequency given its
    bandwidth (`best_cpu_hz`), until total energy stops falling.
    """

    name = "energy-min"

    def __init__(self, rng: np.random.Generator, solver: str = "lambertw", dvfs_iterations: int = 4) -> None:
        super().__init__(rng, "largest", solver)
        self.dvfs_iterations = dvfs_iterations

    def decide(self, state: RoundState) -> Allocation:
        alloc = super().decide(state)
        if not np.any(state.dvfs & (alloc.module >= 0)):
            return alloc
        best, best_e = alloc, float(predicted_energy_j(state, alloc).sum())
        cpu = state.cpu_hz_max.copy()
        module, bandwidth = alloc.module, alloc.bandwidth_hz
        for _ in range(self.dvfs_iterations):
            cpu = dvfs_step(state, module, bandwidth, cpu)
            reason = list(best.skip_reason)
            module, p, bandwidth, repairs = split_energy_min(state, module.copy(), reason, self.solver, cpu_hz=cpu)
            cand = finish(state, module, p, bandwidth, reason, {"infeasible_repairs": repairs}, cpu_hz=cpu)
            e = float(predicted_energy_j(state, cand).sum())
            if e < best_e * (1 - 1e-9) and np.sum(cand.module >= 0) >= np.sum(best.module >= 0):
                best, best_e = cand, e
            else:
                break
        return best


class EnergyCap:
    """Wraps any policy with a hard per-round energy cap per device.

    A selected device whose predicted energy (`predicted_energy_j`: compute + (p + P_c)·airtime at the
    allocated power and bandwidth) exceeds `cap_j` moves to a smaller module, or is skipped with
    reason 'energy-cap'.
    """

    def __init__(self, inner: Policy, cap_j: float) -> None:
        self.inner, self.cap_j = inner, cap_j
        self.name = f"{inner.name}+energy-cap"
        self.uses_rank_residual = inner.uses_rank_residual
        self.energy_queue = inner.energy_queue

    def decide(self, state: RoundState) -> Allocation:
        alloc = self.inner.decide(state)
        module = alloc.module.copy()
        reason = list(alloc.skip_reason)
        for _ in range(len(state.ranks)):
            trial = Allocation(module, alloc.power_w, alloc.bandwidth_hz, alloc.skip_reason, cpu_hz=alloc.cpu_hz)
            over = (module >= 0) & ~(predicted_energy_j(state, trial) <= self.cap_j)
            if not np.any(over):
                break
            module = np.where(over, module - 1, module)
        for d in np.flatnonzero((alloc.module >= 0) & (module < 0)):
            reason[d] = "energy-cap"
        terms = dict(alloc.terms)
        terms["energy_capped"] = float(np.sum((alloc.module >= 0) & (module < 0)))
        return finish(
            state,
            module,
            alloc.power_w,
            alloc.bandwidth_hz,
            reason,
            terms,
            cpu_hz=alloc.cpu_hz,
            q=alloc.packet_error_prob,
        )

    def observe(self, outcome: RoundOutcome) -> None:
        self.inner.observe(outcome)


POLICIES: dict[str, Callable[..., Any]] = {
    "uniform": Uniform,
    "fixed": Fixed,
    "random": RandomPolicy,
    "fixed-rank": FixedRank,
    "greedy": Greedy,
    "energy-min": EnergyMin,
    "lyapunov": Lyapunov,
}


def make_policy(name: str, params: Mapping[str, Any], rng: np.random.Generator) -> Policy:
    """Build a registered policy; `energy_cap_j` in params wraps it in EnergyCap."""
    validate_policy_params(name, params)
    kwargs = {k: v for k, v in params.items() if k != "energy_cap_j"}
    policy = POLICIES[name](rng, **kwargs)
    if "energy_cap_j" in params:
        policy = EnergyCap(policy, float(params["energy_cap_j"]))
    return policy
