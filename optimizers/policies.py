"""Resource-allocation policies: who trains which module, at what power, over how much bandwidth.

Every policy implements `decide(state) -> Allocation` and `observe(outcome)`. Constraints such as a
hard per-round energy cap are added by wrapping a policy (`EnergyCap`), not by subclassing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

import channels
from optimizers.params import validate_policy_params
from optimizers.solvers import energy_min_bandwidth, energy_min_bandwidth_cvxpy, tx_power_for_window_w
from optimizers.types import Allocation, RoundOutcome, RoundState

SKIP = -1


def _finish(state: RoundState, module, power, bandwidth, reason, terms=None) -> Allocation:
    module = np.asarray(module, dtype=int)
    sel = module >= 0
    return Allocation(
        module=module,
        power_w=np.where(sel, power, 0.0),
        bandwidth_hz=np.where(sel, bandwidth, 0.0),
        skip_reason=tuple("" if s else (r or "not-selected") for s, r in zip(sel, reason)),
        terms=dict(terms or {}),
    )


def _initial_reasons(state: RoundState) -> list[str]:
    return ["" if a else "unavailable" for a in state.available]


def _cap_clients(state: RoundState, candidates: np.ndarray, order_key: np.ndarray) -> np.ndarray:
    """Keep at most max_clients candidates, best (smallest key) first."""
    if state.max_clients is None or len(candidates) <= state.max_clients:
        return candidates
    return candidates[np.argsort(order_key[candidates], kind="stable")[: state.max_clients]]


def split_energy_min(
    state: RoundState, module: np.ndarray, reason: list[str], solver: str = "lambertw"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Energy-minimal bandwidth and power per cell for the chosen modules.

    Infeasible cells are repaired explicitly: first the device with the largest minimum bandwidth
    moves to a smaller module if one exists, else it is dropped (reason 'infeasible'). Each repair
    removes rank or a device, so the loop ends after at most K·M steps.
    """
    solve = energy_min_bandwidth_cvxpy if solver == "cvxpy" else energy_min_bandwidth
    module = module.copy()
    k = state.num_devices
    power, bandwidth = np.zeros(k), np.zeros(k)
    window = state.upload_window_s()
    repairs = 0
    for c, pool in enumerate(state.cell_bandwidth_hz):
        while True:
            idx = np.flatnonzero((module >= 0) & (state.cell == c))
            if len(idx) == 0:
                break
            m = module[idx]
            bits, win = state.payload_bits[idx, m], window[idx, m]
            b, p, ok = solve(bits, win, state.gain_lin[idx], state.noise_psd_w_per_hz[idx], state.p_max_w[idx], pool)
            if ok:
                bandwidth[idx], power[idx] = b, p
                break
            repairs += 1
            with np.errstate(divide="ignore", invalid="ignore"):
                need = (
                    channels.min_bandwidth_hz(
                        bits,
                        np.where(win > 0, win, np.nan),
                        state.p_max_w[idx],
                        state.gain_lin[idx],
                        state.noise_psd_w_per_hz[idx],
                    )
                    if np.all(win > 0)
                    else np.where(win > 0, 0.0, np.inf)
                )
            need = np.where(np.isnan(need), np.inf, need)
            worst = idx[int(np.argmax(need))]
            if module[worst] > 0:
                module[worst] -= 1  # modules are ordered by rank: one step smaller
            else:
                module[worst] = SKIP
                reason[worst] = "infeasible"
    return module, power, bandwidth, repairs


class Uniform:
    """Every available device trains one module; equal bandwidth in its cell; full power."""

    name = "uniform"

    def __init__(self, rng: np.random.Generator, rank: int | None = None) -> None:
        self.rank = rank

    def _module_index(self, state: RoundState) -> int:
        if self.rank is None:
            return len(state.ranks) - 1
        if self.rank not in state.ranks:
            raise ValueError(f"rank: {self.rank} is not among the scenario's ranks {list(state.ranks)}")
        return state.ranks.index(self.rank)

    def decide(self, state: RoundState) -> Allocation:
        reason = _initial_reasons(state)
        cand = np.flatnonzero(state.available)
        cand = _cap_clients(state, cand, -state.gain_lin)
        module = np.full(state.num_devices, SKIP)
        module[cand] = self._module_index(state)
        bandwidth = np.zeros(state.num_devices)
        for c, pool in enumerate(state.cell_bandwidth_hz):
            here = cand[state.cell[cand] == c]
            bandwidth[here] = pool / max(len(here), 1)
        return _finish(state, module, state.p_max_w, bandwidth, reason)

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
        return _finish(state, alloc.module, np.minimum(power, state.p_max_w), bw, list(alloc.skip_reason))


class RandomPolicy:
    """Each available device picks a module or skip uniformly at random; energy-minimal split."""

    name = "random"

    def __init__(self, rng: np.random.Generator, solver: str = "lambertw") -> None:
        self.rng, self.solver = rng, solver

    def decide(self, state: RoundState) -> Allocation:
        reason = _initial_reasons(state)
        draw = self.rng.integers(-1, len(state.ranks), state.num_devices)
        module = np.where(state.available, draw, SKIP)
        cand = np.flatnonzero(module >= 0)
        keep = _cap_clients(state, cand, self.rng.random(state.num_devices))
        module[np.setdiff1d(cand, keep)] = SKIP
        module, p, b, repairs = split_energy_min(state, module, reason, self.solver)
        return _finish(state, module, p, b, reason, {"infeasible_repairs": repairs})

    def observe(self, outcome: RoundOutcome) -> None:
        pass


class FixedRank:
    """Every available device trains the smallest or largest module; energy-minimal split."""

    name = "fixed-rank"

    def __init__(self, rng: np.random.Generator, which: str = "largest", solver: str = "lambertw") -> None:
        self.which, self.solver = which, solver

    def decide(self, state: RoundState) -> Allocation:
        reason = _initial_reasons(state)
        cand = _cap_clients(state, np.flatnonzero(state.available), -state.gain_lin)
        module = np.full(state.num_devices, SKIP)
        module[cand] = 0 if self.which == "smallest" else len(state.ranks) - 1
        module, p, b, repairs = split_energy_min(state, module, reason, self.solver)
        return _finish(state, module, p, b, reason, {"infeasible_repairs": repairs})

    def observe(self, outcome: RoundOutcome) -> None:
        pass


class Greedy:
    """Best channels first, no memory: add devices by gain at the largest module that still fits."""

    name = "greedy"

    def __init__(self, rng: np.random.Generator, solver: str = "lambertw") -> None:
        self.solver = solver

    def decide(self, state: RoundState) -> Allocation:
        reason = _initial_reasons(state)
        order = np.argsort(-state.gain_lin, kind="stable")
        module = np.full(state.num_devices, SKIP)
        chosen = 0
        window = state.upload_window_s()
        used = np.zeros(len(state.cell_bandwidth_hz))
        for d in order:
            if not state.available[d] or (state.max_clients is not None and chosen >= state.max_clients):
                continue
            c = state.cell[d]
            for m in range(len(state.ranks) - 1, -1, -1):
                need = (
                    float(
                        channels.min_bandwidth_hz(
                            state.payload_bits[d, m],
                            window[d, m],
                            state.p_max_w[d],
                            state.gain_lin[d],
                            state.noise_psd_w_per_hz[d],
                        )
                    )
                    if window[d, m] > 0
                    else np.inf
                )
                if used[c] + need <= state.cell_bandwidth_hz[c]:
                    module[d], used[c] = m, used[c] + need
                    chosen += 1
                    break
            else:
                reason[d] = "infeasible"
        module, p, b, repairs = split_energy_min(state, module, reason, self.solver)
        return _finish(state, module, p, b, reason, {"infeasible_repairs": repairs})

    def observe(self, outcome: RoundOutcome) -> None:
        pass


class EnergyMin(FixedRank):
    """Yang et al. 2021 style: every available device meets the deadline at least energy (largest module)."""

    name = "energy-min"

    def __init__(self, rng: np.random.Generator, solver: str = "lambertw") -> None:
        super().__init__(rng, "largest", solver)


class Lyapunov:
    """Online drift-plus-penalty control of module switching, power and bandwidth (arXiv 2509.19306).

    Virtual energy queues Q_k(t+1) = max(Q_k(t) + E_k(t) − Ē_k, 0) turn the long-term budgets into
    a per-round price. Each round minimises V·penalty + Σ_k Q_k·E_k by alternating (a) module
    choice per device by enumeration over {skip} ∪ modules with the other devices' bandwidth held,
    and (b) the energy-minimal power/bandwidth split for the chosen set, until the objective stops
    improving.

    Learning penalty (a documented proxy, calibrated online): penalty = −Σ_k w_k·ĝ(m_k), with
    w_k = the device's share of the data and ĝ(m) the estimated accuracy gain per round from module
    m at full participation. After each round, the observed accuracy change Δacc is attributed to
    the modules that arrived in proportion to their data shares, and each ĝ(m) follows an
    exponential moving average (weight `ema`) of Δacc / (data share that used m). Untried modules
    keep the optimistic `prior_gain` so they are explored. Skip gains 0.
    """

    name = "lyapunov"

    def __init__(
        self,
        rng: np.random.Generator,
        V: float = 10.0,
        solver: str = "lambertw",
        max_iterations: int = 5,
        ema: float = 0.3,
        prior_gain: float = 0.05,
    ) -> None:
        self.V, self.solver, self.max_iterations, self.ema, self.prior_gain = (
            V,
            solver,
            max_iterations,
            ema,
            prior_gain,
        )
        self.queue_j: np.ndarray | None = None
        self.gain_est: np.ndarray | None = None
        self._last_accuracy: float | None = None
        self._shares: np.ndarray | None = None

    def _objective(self, state, module, energy, weights) -> tuple[float, float, float]:
        sel = module >= 0
        penalty = -float(np.sum(weights[sel] * self.gain_est[module[sel]]))
        drift = float(np.sum(self.queue_j * energy))
        return self.V * penalty + drift, penalty, drift

    def _energy(self, state, module, power, bandwidth) -> np.ndarray:
        k = np.arange(state.num_devices)
        sel = module >= 0
        m = np.where(sel, module, 0)
        window = np.maximum(state.upload_window_s()[k, m], 1e-12)
        tx = power * window  # each device transmits over its whole window (energy-minimal split)
        return np.where(sel, state.compute_energy_j[k, m] + tx, 0.0)

    def _switch(self, state: RoundState, bandwidth: np.ndarray, window: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Per device, the option in {skip} ∪ modules minimising −V·w_k·ĝ(m) + Q_k·E_k(m) at its bandwidth.

        A module is an option only if it fits the device's window at p_max over that bandwidth.
        """
        b = bandwidth[:, None]
        g, n0 = state.gain_lin[:, None], state.noise_psd_w_per_hz[:, None]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            need = channels.min_bandwidth_hz(
                state.payload_bits, np.where(window > 0, window, np.nan), state.p_max_w[:, None], g, n0
            )
            power = tx_power_for_window_w(state.payload_bits, window, b, g, n0)
            energy = state.compute_energy_j + power * window
        fits = (window > 0) & np.isfinite(need) & (need <= b * 1.000001)
        score = -self.V * weights[:, None] * self.gain_est[None, :] + self.queue_j[:, None] * energy
        score = np.where(fits, score, np.inf)
        options = np.concatenate([np.zeros((state.num_devices, 1)), score], axis=1)  # column 0: skip
        choice = np.argmin(options, axis=1) - 1
        return np.where(state.available, choice, SKIP)

    def decide(self, state: RoundState) -> Allocation:
        k_dev, n_mod = state.num_devices, len(state.ranks)
        if self.queue_j is None or len(self.queue_j) != k_dev:
            self.queue_j = np.zeros(k_dev)
        if self.gain_est is None or len(self.gain_est) != n_mod:
            self.gain_est = np.full(n_mod, self.prior_gain)
        weights = state.num_samples / max(state.num_samples.sum(), 1.0)
        self._shares = weights
        reason = _initial_reasons(state)
        window = state.upload_window_s()
        # Start: every available device at the module with the best stand-alone score.
        module = np.full(k_dev, SKIP)
        equal_b = state.cell_bandwidth_hz[state.cell] / np.maximum(
            np.bincount(state.cell[state.available], minlength=len(state.cell_bandwidth_hz))[state.cell], 1
        )
        best_obj = np.inf
        best = None
        iterations = 0
        bandwidth = equal_b.copy()
        for it in range(self.max_iterations):
            iterations = it + 1
            # (a) module switching given bandwidth: every device scores skip and each module at once.
            module = self._switch(state, bandwidth, window, weights)
            cand = np.flatnonzero(module >= 0)
            keep = _cap_clients(state, cand, np.zeros(k_dev) - weights)
            module[np.setdiff1d(cand, keep)] = SKIP
            # (b)+(c) power and bandwidth for the chosen set.
            module_fit, power, bandwidth_new, repairs = split_energy_min(state, module, list(reason), self.solver)
            energy = self._energy(state, module_fit, power, bandwidth_new)
            obj, penalty, drift = self._objective(state, module_fit, energy, weights)
            if best is None or obj < best_obj - 1e-12 * max(1.0, abs(best_obj)):
                best_obj = obj
                best = (module_fit.copy(), power.copy(), bandwidth_new.copy(), penalty, drift, repairs)
            else:
                break
            # Devices not chosen keep a bandwidth guess for the next enumeration: an equal share of what is left.
            bandwidth = np.where(module_fit >= 0, bandwidth_new, equal_b)
            module = module_fit
        module, power, bandwidth, penalty, drift, repairs = best
        final_reason = [r if r else ("budget" if self.queue_j[i] > 0 else "not-selected") for i, r in enumerate(reason)]
        terms = {
            "V": self.V,
            "penalty": penalty,
            "drift": drift,
            "objective": best_obj,
            "iterations": iterations,
            "infeasible_repairs": repairs,
            "mean_queue_j": float(self.queue_j.mean()),
        }
        for r, g in zip(state.ranks, self.gain_est):
            terms[f"gain_est_r{r}"] = float(g)
        self._budget = state.energy_budget_j
        return _finish(state, module, power, bandwidth, final_reason, terms)

    def observe(self, outcome: RoundOutcome) -> None:
        budget = np.where(np.isfinite(self._budget), self._budget, 0.0)
        self.queue_j = np.where(
            np.isfinite(self._budget), np.maximum(self.queue_j + outcome.energy_j - budget, 0.0), 0.0
        )
        if self._last_accuracy is not None and self._shares is not None:
            delta = outcome.accuracy - self._last_accuracy
            arrived = outcome.arrived & (outcome.module >= 0)
            for m in range(len(self.gain_est)):
                share = float(self._shares[arrived & (outcome.module == m)].sum())
                if share > 0:
                    total = float(self._shares[arrived].sum())
                    # Δacc attributed to module m by data share, scaled to full participation.
                    g = delta * (share / total) / share
                    self.gain_est[m] = (1 - self.ema) * self.gain_est[m] + self.ema * g
        self._last_accuracy = outcome.accuracy


class EnergyCap:
    """Wraps any policy with a hard per-round energy cap per device.

    A selected device whose predicted energy (compute + transmit at the allocated power over its
    window) exceeds `cap_j` moves to a smaller module, or is skipped with reason 'energy-cap'.
    """

    def __init__(self, inner: Any, cap_j: float) -> None:
        self.inner, self.cap_j = inner, cap_j
        self.name = f"{inner.name}+energy-cap"

    def decide(self, state: RoundState) -> Allocation:
        alloc = self.inner.decide(state)
        module = alloc.module.copy()
        reason = list(alloc.skip_reason)
        k = np.arange(state.num_devices)
        window = state.upload_window_s()
        for d in np.flatnonzero(module >= 0):
            while module[d] >= 0:
                m = module[d]
                e = state.compute_energy_j[d, m] + alloc.power_w[d] * max(window[d, m], 0.0)
                if e <= self.cap_j:
                    break
                module[d] -= 1
            if module[d] < 0:
                reason[d] = "energy-cap"
        del k
        terms = dict(alloc.terms)
        terms["energy_capped"] = float(np.sum((alloc.module >= 0) & (module < 0)))
        return _finish(state, module, alloc.power_w, alloc.bandwidth_hz, reason, terms)

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


def make_policy(name: str, params: Mapping[str, Any], rng: np.random.Generator) -> Any:
    """Build a registered policy; `energy_cap_j` in params wraps it in EnergyCap."""
    validate_policy_params(name, params)
    kwargs = {k: v for k, v in params.items() if k != "energy_cap_j"}
    policy = POLICIES[name](rng, **kwargs)
    if "energy_cap_j" in params:
        policy = EnergyCap(policy, float(params["energy_cap_j"]))
    return policy
