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
from optimizers.solvers import (
    best_cpu_hz,
    best_power_w,
    energy_min_bandwidth_cvxpy,
    energy_min_split,
    min_bandwidth_or_inf,
)
from optimizers.types import PLANNING_MARGIN, Allocation, RoundOutcome, RoundState

SKIP = -1


def _finish(state: RoundState, module, power, bandwidth, reason, terms=None, cpu_hz=None, q=None) -> Allocation:
    module = np.asarray(module, dtype=int)
    sel = module >= 0
    if cpu_hz is None and state.cpu_hz_max is not None:
        cpu_hz = state.cpu_hz_max
    return Allocation(
        module=module,
        power_w=np.where(sel, power, 0.0),
        bandwidth_hz=np.where(sel, bandwidth, 0.0),
        skip_reason=tuple("" if s else (r or "not-selected") for s, r in zip(sel, reason)),
        terms=dict(terms or {}),
        cpu_hz=None if cpu_hz is None else np.where(sel, cpu_hz, 0.0),
        packet_error_prob=None if q is None else np.where(sel, q, 0.0),
    )


def _initial_reasons(state: RoundState) -> list[str]:
    """'unavailable', 'no-link' (the uplink cannot carry a bit) or '' for devices that may be planned."""
    link = state.link_ok()
    return ["unavailable" if not a else ("" if ok else "no-link") for a, ok in zip(state.available, link)]


def _candidates(reason: list[str]) -> np.ndarray:
    return np.flatnonzero(np.array([r == "" for r in reason], dtype=bool))


def _cap_clients(state: RoundState, candidates: np.ndarray, order_key: np.ndarray) -> np.ndarray:
    """Keep at most max_clients candidates, best (smallest key) first."""
    if state.max_clients is None or len(candidates) <= state.max_clients:
        return candidates
    return candidates[np.argsort(order_key[candidates], kind="stable")[: state.max_clients]]


def _rows(state: RoundState, module: np.ndarray, arr: np.ndarray) -> np.ndarray:
    """arr[k, module[k]] per device (module −1 reads column 0; callers mask by selection)."""
    return arr[np.arange(state.num_devices), np.where(module >= 0, module, 0)]


def predicted_energy_j(state: RoundState, alloc: Allocation) -> np.ndarray:
    """[K] energy the allocation plans per device: compute at its CPU frequency + (p + P_c)·airtime.

    Airtime is S / r(p, b) with the planned power and bandwidth (at least the whole window when the
    power just fills it). Skipped devices spend nothing.
    """
    sel = alloc.module >= 0
    _, comp_e = state.compute_at(alloc.cpu_hz)
    bits = _rows(state, alloc.module, state.payload_bits)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = channels.shannon_rate_bps(
            alloc.bandwidth_hz,
            power_w=alloc.power_w,
            gain_lin=np.where(state.link_ok(), state.gain_lin, 0.0),
            noise_psd_w_per_hz=state.noise_psd_w_per_hz,
        )
        air = np.where(bits > 0, bits / np.where(rate > 0, rate, np.nan), 0.0)
    air = np.where(sel, np.nan_to_num(air, nan=np.inf), 0.0)
    tx = np.where(air > 0, (alloc.power_w + state.circuit_w) * air, 0.0)
    return np.where(sel, _rows(state, alloc.module, comp_e) + tx, 0.0)


def _device_windows(state: RoundState, module: np.ndarray, cpu_hz: np.ndarray | None) -> np.ndarray:
    return _rows(state, module, state.upload_window_s(cpu_hz))


def _repair(state: RoundState, module: np.ndarray, reason: list[str], cpu_hz, cells: np.ndarray) -> int:
    """Make every listed cell feasible: the device needing most bandwidth at p_max moves one module
    down (modules are ordered by rank), or is dropped with reason 'infeasible'. Returns the step count."""
    steps = 0
    windows = state.upload_window_s(cpu_hz)
    for c in cells:
        pool = state.cell_bandwidth_hz[c]
        idx = np.flatnonzero((module >= 0) & (state.cell == c))
        need = min_bandwidth_or_inf(
            _rows(state, module, state.payload_bits)[idx],
            _rows(state, module, windows)[idx],
            state.p_max_w[idx],
            state.gain_lin[idx],
            state.noise_psd_w_per_hz[idx],
        )
        while len(idx) and not (np.all(np.isfinite(need)) and need.sum() <= pool * (1 + 1e-9)):
            steps += 1
            j = int(np.argmax(np.where(np.isfinite(need), need, np.inf)))
            d = idx[j]
            if module[d] > 0:
                module[d] -= 1
                need[j] = min_bandwidth_or_inf(
                    state.payload_bits[d, module[d]],
                    windows[d, module[d]],
                    state.p_max_w[d],
                    state.gain_lin[d],
                    state.noise_psd_w_per_hz[d],
                )
            else:
                module[d] = SKIP
                reason[d] = "infeasible"
                idx, need = np.delete(idx, j), np.delete(need, j)
    return steps


def _split_cells(state, idx, bits, win, weights, solver):
    """One energy-minimal split of the devices `idx` over their cells: (bandwidth, power, cell_ok)."""
    if solver == "cvxpy":
        b, p = np.zeros(len(idx)), np.zeros(len(idx))
        ok = np.ones(len(state.cell_bandwidth_hz), dtype=bool)
        for c in np.unique(state.cell[idx]):
            here = state.cell[idx] == c
            b[here], p[here], ok[c] = energy_min_bandwidth_cvxpy(
                bits[here],
                window_s=win[here],
                gain_lin=state.gain_lin[idx][here],
                noise_psd_w_per_hz=state.noise_psd_w_per_hz[idx][here],
                p_max_w=state.p_max_w[idx][here],
                total_bandwidth_hz=float(state.cell_bandwidth_hz[c]),
            )
        return b, p, ok
    return energy_min_split(
        bits,
        win,
        state.gain_lin[idx],
        state.noise_psd_w_per_hz[idx],
        state.p_max_w[idx],
        state.cell[idx],
        state.cell_bandwidth_hz,
        weights=weights,
    )


def _circuit_power_step(state, idx, bits, win, bandwidth, power) -> np.ndarray:
    """Raise each device's power to the level that minimises (p + P_c)·airtime within its window."""
    circuit = state.circuit_w[idx]
    p_best, _ = best_power_w(
        bits,
        win,
        bandwidth,
        state.gain_lin[idx],
        state.noise_psd_w_per_hz[idx],
        state.p_max_w[idx],
        circuit,
        1.0,
        0.0,
        None,
    )
    return np.where((circuit > 0) & (p_best > 0), np.maximum(p_best, power), power)


def _tx_energy(state, idx, bits, bandwidth, power) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = channels.shannon_rate_bps(
            bandwidth, power_w=power, gain_lin=state.gain_lin[idx], noise_psd_w_per_hz=state.noise_psd_w_per_hz[idx]
        )
        return np.where(bits > 0, (power + state.circuit_w[idx]) * bits / rate, 0.0)


def split_energy_min(
    state: RoundState,
    module: np.ndarray,
    reason: list[str],
    solver: str = "lambertw",
    *,
    weights: np.ndarray | None = None,
    cpu_hz: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Energy-minimal bandwidth and power per cell for the chosen modules (all cells in one bisection).

    Infeasible cells are repaired explicitly (`_repair`): each step removes rank or a device, so the
    loop ends after at most K·M steps. `weights` price each device's energy (default 1).

    With circuit power P_c, filling the whole window is no longer optimal: each device's power is
    raised to the level that minimises (p + P_c)·airtime, and the split is solved again over the
    airtimes that result instead of the windows (kept where it lowers the priced energy). The split
    itself minimises radiated energy: where P_c dominates, a longer deadline can shift bandwidth to
    weak channels and lengthen total airtime (a circuit-aware split is not implemented).
    """
    module = module.copy()
    k = state.num_devices
    power, bandwidth = np.zeros(k), np.zeros(k)
    repairs = 0
    for _ in range(3):  # the repair makes every cell feasible, so a second pass only confirms it
        idx = np.flatnonzero(module >= 0)
        if len(idx) == 0:
            break
        win = _device_windows(state, module, cpu_hz)[idx]
        bits = _rows(state, module, state.payload_bits)[idx]
        w = None if weights is None else weights[idx]
        b, p, ok = _split_cells(state, idx, bits, win, w, solver)
        bad = np.flatnonzero(~ok)
        bad = bad[np.isin(bad, state.cell[idx])]
        if len(bad) == 0:
            bandwidth[idx], power[idx] = b, p
            break
        repairs += _repair(state, module, reason, cpu_hz, bad)
    sel = module >= 0
    power, bandwidth = np.where(sel, power, 0.0), np.where(sel, bandwidth, 0.0)
    idx = np.flatnonzero(sel & (state.circuit_w > 0))
    if len(np.flatnonzero(sel)) and len(idx):
        idx = np.flatnonzero(sel)
        win = _device_windows(state, module, cpu_hz)[idx]
        bits = _rows(state, module, state.payload_bits)[idx]
        price = np.ones(len(idx)) if weights is None else np.maximum(weights[idx], 0.0)
        b, p = bandwidth[idx], _circuit_power_step(state, idx, bits, win, bandwidth[idx], power[idx])
        cost = float(np.sum(price * _tx_energy(state, idx, bits, b, p)))
        for _ in range(2):
            with np.errstate(divide="ignore", invalid="ignore"):
                air = bits / channels.shannon_rate_bps(
                    b, power_w=p, gain_lin=state.gain_lin[idx], noise_psd_w_per_hz=state.noise_psd_w_per_hz[idx]
                )
            tight = np.where(np.isfinite(air) & (air > 0), np.minimum(win, air * (1 + 1e-6)), win)
            b2, p2, ok = _split_cells(state, idx, bits, tight, None if weights is None else weights[idx], solver)
            if not np.all(ok[np.unique(state.cell[idx])]):
                break
            p2 = _circuit_power_step(state, idx, bits, win, b2, np.maximum(p2, 0.0))
            cost2 = float(np.sum(price * _tx_energy(state, idx, bits, b2, p2)))
            if not cost2 < cost * (1 - 1e-9):
                break
            b, p, cost = b2, p2, cost2
        bandwidth[idx], power[idx] = b, p
    return module, power, bandwidth, repairs


def _bandwidth_needed_at_pmax(state: RoundState) -> np.ndarray:
    """[K, M] least bandwidth that sends each module within its window at p_max and full CPU speed (inf: none)."""
    return min_bandwidth_or_inf(
        state.payload_bits,
        state.upload_window_s(state.cpu_hz_max),
        state.p_max_w[:, None],
        state.gain_lin[:, None],
        state.noise_psd_w_per_hz[:, None],
    )


def _plannable(state: RoundState) -> np.ndarray:
    """[K, M] modules a device could send in time over its whole cell at p_max."""
    need = _bandwidth_needed_at_pmax(state)
    return np.isfinite(need) & (need <= state.cell_bandwidth_hz[state.cell][:, None] * (1 + 1e-9))


class Uniform:
    """Every available device trains one module; equal bandwidth in its cell; full power; full CPU speed.

    Devices whose uplink cannot carry a bit ('no-link') or whose module cannot even start uploading
    before the deadline ('infeasible') are skipped; the rest try, and the engine drops late ones.
    """

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
        m = self._module_index(state)
        window = state.upload_window_s(state.cpu_hz_max)[:, m]
        for d in _candidates(reason):
            if not window[d] > 0:
                reason[d] = "infeasible"
        cand = _cap_clients(state, _candidates(reason), -np.nan_to_num(state.gain_lin, nan=0.0))
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
        cand_mask = np.array([r == "" for r in reason], dtype=bool)
        module = np.where(cand_mask, draw, SKIP)
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
        cand = _cap_clients(state, _candidates(reason), -np.nan_to_num(state.gain_lin, nan=0.0))
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
        need = _bandwidth_needed_at_pmax(state)
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
        return _finish(state, module, p, b, reason, {"infeasible_repairs": repairs})

    def observe(self, outcome: RoundOutcome) -> None:
        pass


def _dvfs_step(state: RoundState, module: np.ndarray, bandwidth: np.ndarray, cpu_hz: np.ndarray) -> np.ndarray:
    """Given bandwidth, each DVFS device's energy-minimal CPU frequency (`best_cpu_hz`); others keep theirs."""
    sel = np.flatnonzero((module >= 0) & state.dvfs & (bandwidth > 0))
    if len(sel) == 0:
        return cpu_hz
    m = module[sel]
    f, e = best_cpu_hz(
        state.cycles[sel, m],
        state.kappa[sel],
        state.cpu_hz_min[sel],
        state.cpu_hz_max[sel],
        state.deadline_s - state.downlink_time_s[sel],
        state.payload_bits[sel, m],
        bandwidth[sel],
        state.gain_lin[sel],
        state.noise_psd_w_per_hz[sel],
        state.p_max_w[sel],
        state.circuit_w[sel],
        PLANNING_MARGIN,
    )
    out = cpu_hz.copy()
    out[sel] = np.where(np.isfinite(e), f, cpu_hz[sel])
    return out


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
            cpu = _dvfs_step(state, module, bandwidth, cpu)
            reason = list(best.skip_reason)
            module, p, bandwidth, repairs = split_energy_min(state, module.copy(), reason, self.solver, cpu_hz=cpu)
            cand = _finish(state, module, p, bandwidth, reason, {"infeasible_repairs": repairs}, cpu_hz=cpu)
            e = float(predicted_energy_j(state, cand).sum())
            if e < best_e * (1 - 1e-9) and np.sum(cand.module >= 0) >= np.sum(best.module >= 0):
                best, best_e = cand, e
            else:
                break
        return best


class Lyapunov:
    """Online drift-plus-penalty control of module switching, CPU frequency, power and bandwidth.

    After arXiv 2509.19306 (switching-based federated fine-tuning under long-term energy budgets).
    Virtual energy queues Q_k(t+1) = max(Q_k(t) + E_k(t) − Ē_k, 0) turn the budgets into a price; each
    round minimises V·Φ_t + Σ_k Q_k·E_k.

    Learning penalty Φ_t, a one-round bound on how much of the ideal update is lost (the paper derives
    an inference-risk-gap bound; its text is not available to us, so this is our own bound-style model):

        Φ_t = Σ_k w_k·[1 − x_k(1 − q_k)]·G + Σ_k w_k·x_k(1 − q_k)·ε(r_k)

    with w_k the device's data share, x_k ∈ {0, 1} whether it trains, q_k its packet error probability
    at the chosen power and bandwidth (Chen et al. 2021; 0 when the scenario has no packet errors),
    ε(r) the share of the aggregated update's energy a rank-r module cannot carry, and G (`miss_penalty`)
    the cost of a missing update relative to a perfect one. Assumptions: the global step's error is
    linear in the update energy that does not arrive (a first-order, L-smooth bound with bounded
    client dissimilarity, whose constants fold into G and V); devices contribute in proportion to their
    data. ε is estimated from what the aggregated updates show — the singular-value spectrum
    Σ_{i>r} σ_i² / Σ σ_i² reported by the learner (`RoundOutcome.rank_residual`), an exponential moving
    average with weight `ema` — never from noisy accuracy, so noise cannot switch training off. Before
    the first report ε(r) = 1 − r/r_max (a flat spectrum up to the largest rank). A trained update is
    always worth G − ε(r) > 0, so a device whose queue empties trains again.

    Per round the problem is solved by alternation until the objective stops improving: (a) module
    switching per device over {skip} ∪ modules, each at its best CPU frequency and power for the current
    bandwidth; (b) the queue-weighted energy-minimal bandwidth split for the chosen set; (c) CPU
    frequency (energy-minimal given bandwidth) and power (1-D bracketed search trading Q_k·energy
    against V·w_k·(G − ε)·(1 − q_k)).
    """

    name = "lyapunov"
    uses_rank_residual = True  # the learner measures ε(r) only for policies that read it

    def __init__(
        self,
        rng: np.random.Generator,
        V: float = 10.0,
        solver: str = "lambertw",
        max_iterations: int = 5,
        ema: float = 0.3,
        miss_penalty: float = 1.0,
    ) -> None:
        self.V, self.solver, self.max_iterations, self.ema, self.miss_penalty = (
            V,
            solver,
            max_iterations,
            ema,
            miss_penalty,
        )
        self.queue_j: np.ndarray | None = None
        self.residual: dict[int, float] | None = None
        self._budget: np.ndarray | None = None

    def _residuals(self, ranks: tuple[int, ...]) -> np.ndarray:
        if self.residual is None or set(self.residual) != set(ranks):
            r_max = max(ranks) if max(ranks) > 0 else 1
            self.residual = {r: (0.0 if r == 0 else 1.0 - r / r_max) for r in ranks}
        return np.array([min(max(self.residual[r], 0.0), 1.0) for r in ranks])

    def _options(self, state, bandwidth, value, price):
        """[K, M] cost of each module at its best CPU frequency and power over `bandwidth` (skip = 0)."""
        k, m = state.payload_bits.shape
        b = np.repeat(bandwidth, m)
        cpu = np.repeat(state.cpu_hz_max, m) if state.cpu_hz_max is not None else None
        if state.cycles is not None and np.any(state.dvfs):
            dv = np.repeat(state.dvfs, m) & (b > 0)
            f, e = best_cpu_hz(
                state.cycles.ravel(),
                np.repeat(state.kappa, m),
                np.repeat(state.cpu_hz_min, m),
                np.repeat(state.cpu_hz_max, m),
                np.repeat(state.deadline_s - state.downlink_time_s, m),
                state.payload_bits.ravel(),
                b,
                np.repeat(state.gain_lin, m),
                np.repeat(state.noise_psd_w_per_hz, m),
                np.repeat(state.p_max_w, m),
                np.repeat(state.circuit_w, m),
                PLANNING_MARGIN,
                grid=8,
                iters=10,
            )
            cpu = np.where(dv & np.isfinite(e), f, cpu)
        cpu_km = None if cpu is None else cpu.reshape(k, m)
        comp_t, comp_e = state.compute_at(cpu_km)
        window = state.upload_window_s(cpu_km)
        p, up = best_power_w(
            state.payload_bits.ravel(),
            window.ravel(),
            b,
            np.repeat(state.gain_lin, m),
            np.repeat(state.noise_psd_w_per_hz, m),
            np.repeat(state.p_max_w, m),
            np.repeat(state.circuit_w, m),
            np.repeat(price, m),
            value.ravel(),
            state.waterfall_m,
            grid=8,
            iters=10,
        )
        cost = price[:, None] * comp_e + up.reshape(k, m)
        return np.where(np.isfinite(cost), cost, np.inf), cpu_km

    def _evaluate(self, state, module, power, bandwidth, cpu, weights, eps):
        """(objective, penalty, drift, energy [K], q [K]) of a complete plan."""
        sel = module >= 0
        g = self.miss_penalty
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            snr = power * state.gain_lin / (state.noise_psd_w_per_hz * bandwidth)
            q = 1.0 - np.exp(-state.waterfall_m / snr) if state.waterfall_m is not None else np.zeros_like(snr)
        q = np.where(sel, np.nan_to_num(q, nan=1.0), 0.0)
        e_r = np.where(sel, eps[np.where(sel, module, 0)], 0.0)
        delivered = np.where(sel, 1.0 - q, 0.0)
        penalty = float(np.sum(weights * ((1.0 - delivered) * g + delivered * e_r)))
        alloc = Allocation(
            module, np.where(sel, power, 0.0), np.where(sel, bandwidth, 0.0), ("",) * len(module), cpu_hz=cpu
        )
        energy = predicted_energy_j(state, alloc)
        drift = float(np.sum(self.queue_j * energy))
        return self.V * penalty + drift, penalty, drift, energy, q

    def decide(self, state: RoundState) -> Allocation:
        k_dev = state.num_devices
        if self.queue_j is None or len(self.queue_j) != k_dev:
            self.queue_j = np.zeros(k_dev)
        eps = self._residuals(state.ranks)
        total = float(np.sum(np.where(np.isfinite(state.num_samples), state.num_samples, 0.0)))
        weights = np.nan_to_num(state.num_samples, nan=0.0) / total if total > 0 else np.zeros(k_dev)
        reason = _initial_reasons(state)
        ok = np.array([r == "" for r in reason], dtype=bool)
        plannable = _plannable(state) & ok[:, None]
        for d in np.flatnonzero(ok & ~plannable.any(axis=1)):
            reason[d] = "infeasible"
        ok &= plannable.any(axis=1)
        value = self.V * weights[:, None] * (self.miss_penalty - eps[None, :])  # [K, M] worth of an intact update
        price = self.queue_j
        n_cells = len(state.cell_bandwidth_hz)
        counts = np.bincount(state.cell[ok], minlength=n_cells)
        equal_b = np.where(ok, state.cell_bandwidth_hz[state.cell] / np.maximum(counts[state.cell], 1), 0.0)
        bandwidth = equal_b.copy()
        split_w = self.queue_j + 1e-6 * max(float(self.queue_j.max(initial=0.0)), 1e-12)
        best, best_obj, iterations = None, np.inf, 0
        for it in range(self.max_iterations):
            iterations = it + 1
            # (a) switching: every device scores skip (0) and each module at its best frequency and power.
            cost, _ = self._options(state, bandwidth, value, price)
            cost = np.where(plannable, cost, np.inf)
            options = np.concatenate([np.zeros((k_dev, 1)), cost], axis=1)
            module = np.where(ok, np.argmin(options, axis=1) - 1, SKIP)
            cand = np.flatnonzero(module >= 0)
            best_cost = options.min(axis=1)
            keep = _cap_clients(state, cand, best_cost)
            module[np.setdiff1d(cand, keep)] = SKIP
            # (b) queue-weighted energy-minimal split; (c) CPU frequency, then power, per device.
            cpu = state.cpu_hz_max.copy() if state.cpu_hz_max is not None else None
            rs = list(reason)
            module, power, bw_new, repairs = split_energy_min(
                state, module, rs, self.solver, weights=split_w, cpu_hz=cpu
            )
            if cpu is not None and np.any(state.dvfs):
                cpu = _dvfs_step(state, module, bw_new, cpu)
                module, power, bw_new, more = split_energy_min(
                    state, module, rs, self.solver, weights=split_w, cpu_hz=cpu
                )
                repairs += more
            sel = np.flatnonzero(module >= 0)
            if len(sel):
                m = module[sel]
                p_opt, c_opt = best_power_w(
                    state.payload_bits[sel, m],
                    state.upload_window_s(cpu)[sel, m],
                    bw_new[sel],
                    state.gain_lin[sel],
                    state.noise_psd_w_per_hz[sel],
                    state.p_max_w[sel],
                    state.circuit_w[sel],
                    price[sel],
                    value[sel, m],
                    state.waterfall_m,
                )
                power[sel] = np.where(np.isfinite(c_opt), p_opt, power[sel])
            obj, penalty, drift, energy, q = self._evaluate(state, module, power, bw_new, cpu, weights, eps)
            if best is None or obj < best_obj - 1e-12 * max(1.0, abs(best_obj)):
                best_obj = obj
                best = (module.copy(), power.copy(), bw_new.copy(), cpu, penalty, drift, repairs, rs, q)
            else:
                break
            # Devices not chosen keep a bandwidth guess for the next enumeration: their equal share.
            bandwidth = np.where(module >= 0, bw_new, equal_b)
        module, power, bandwidth, cpu, penalty, drift, repairs, rs, q = best
        final_reason = [r if r else ("budget" if self.queue_j[i] > 0 else "not-selected") for i, r in enumerate(rs)]
        terms = {
            "V": self.V,
            "penalty": penalty,
            "drift": drift,
            "objective": best_obj,
            "iterations": iterations,
            "infeasible_repairs": repairs,
            "mean_queue_j": float(self.queue_j.mean()) if k_dev else 0.0,
            "mean_packet_error": float(q[module >= 0].mean()) if np.any(module >= 0) else 0.0,
        }
        for r, e in zip(state.ranks, eps):
            terms[f"residual_r{r}"] = float(e)
        self._budget = state.energy_budget_j
        return _finish(state, module, power, bandwidth, final_reason, terms, cpu_hz=cpu, q=q)

    def observe(self, outcome: RoundOutcome) -> None:
        if self._budget is not None and self.queue_j is not None:
            finite = np.isfinite(self._budget)
            spent = np.nan_to_num(outcome.energy_j, nan=0.0, posinf=0.0)
            self.queue_j = np.where(
                finite, np.maximum(self.queue_j + spent - np.where(finite, self._budget, 0.0), 0.0), 0.0
            )
        if outcome.rank_residual and self.residual is not None:
            for r, e in outcome.rank_residual.items():
                if r in self.residual and np.isfinite(e):
                    self.residual[r] = (1 - self.ema) * self.residual[r] + self.ema * float(min(max(e, 0.0), 1.0))


class EnergyCap:
    """Wraps any policy with a hard per-round energy cap per device.

    A selected device whose predicted energy (`predicted_energy_j`: compute + (p + P_c)·airtime at the
    allocated power and bandwidth) exceeds `cap_j` moves to a smaller module, or is skipped with
    reason 'energy-cap'.
    """

    def __init__(self, inner: Any, cap_j: float) -> None:
        self.inner, self.cap_j = inner, cap_j
        self.name = f"{inner.name}+energy-cap"
        self.uses_rank_residual = getattr(inner, "uses_rank_residual", False)

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
        return _finish(
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


def make_policy(name: str, params: Mapping[str, Any], rng: np.random.Generator) -> Any:
    """Build a registered policy; `energy_cap_j` in params wraps it in EnergyCap."""
    validate_policy_params(name, params)
    kwargs = {k: v for k, v in params.items() if k != "energy_cap_j"}
    policy = POLICIES[name](rng, **kwargs)
    if "energy_cap_j" in params:
        policy = EnergyCap(policy, float(params["energy_cap_j"]))
    return policy
