"""What every planning policy shares: skip reasons, the energy model of a plan, and the energy-minimal
bandwidth split with its infeasibility repair, circuit-power and CPU-frequency steps."""

from __future__ import annotations

import numpy as np

import channels
from optimizers.solvers import best_cpu_hz, best_power_w, circuit_optimal_power_w, tx_power_for_window_w
from optimizers.split import energy_min_bandwidth_cvxpy, energy_min_split, min_bandwidth_or_inf
from optimizers.types import PLANNING_MARGIN, Allocation, RoundState

SKIP = -1


def finish(state: RoundState, module, power, bandwidth, reason, terms=None, cpu_hz=None, q=None) -> Allocation:
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


def initial_reasons(state: RoundState) -> list[str]:
    """'unavailable', 'no-link' (the uplink cannot carry a bit) or '' for devices that may be planned."""
    link = state.link_ok()
    return ["unavailable" if not a else ("" if ok else "no-link") for a, ok in zip(state.available, link)]


def candidates(reason: list[str]) -> np.ndarray:
    return np.flatnonzero(np.array([r == "" for r in reason], dtype=bool))


def cap_clients(state: RoundState, candidates: np.ndarray, order_key: np.ndarray) -> np.ndarray:
    """Keep at most max_clients candidates, best (smallest key) first."""
    if state.max_clients is None or len(candidates) <= state.max_clients:
        return candidates
    return candidates[np.argsort(order_key[candidates], kind="stable")[: state.max_clients]]


def rows(state: RoundState, module: np.ndarray, arr: np.ndarray) -> np.ndarray:
    """arr[k, module[k]] per device (module −1 reads column 0; callers mask by selection)."""
    return arr[np.arange(state.num_devices), np.where(module >= 0, module, 0)]


def predicted_energy_j(state: RoundState, alloc: Allocation) -> np.ndarray:
    """[K] energy the allocation plans per device: compute at its CPU frequency + (p + P_c)·airtime.

    Airtime is S / r(p, b) with the planned power and bandwidth (at least the whole window when the
    power just fills it); a payload that fills its window stays on air `payload_fill` of it (`channels.airtime_s`).
    Skipped devices spend nothing.
    """
    sel = alloc.module >= 0
    _, comp_e = state.compute_at(alloc.cpu_hz)
    bits = rows(state, alloc.module, state.payload_bits)
    fill, top = (rows(state, alloc.module, x) for x in state.payload_growth(alloc.cpu_hz))
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = channels.shannon_rate_bps(
            alloc.bandwidth_hz,
            power_w=alloc.power_w,
            gain_lin=np.where(state.link_ok(), state.gain_lin, 0.0),
            noise_psd_w_per_hz=state.noise_psd_w_per_hz,
        )
        air = np.where(
            bits > 0, channels.airtime_s(bits, np.where(rate > 0, rate, np.nan), fill_s=fill, max_bits=top), 0.0
        )
    air = np.where(sel, np.nan_to_num(air, nan=np.inf), 0.0)
    tx = np.where(air > 0, (alloc.power_w + state.circuit_w) * air, 0.0)
    return np.where(sel, rows(state, alloc.module, comp_e) + tx, 0.0)


def device_windows(state: RoundState, module: np.ndarray, cpu_hz: np.ndarray | None) -> np.ndarray:
    return rows(state, module, state.upload_window_s(cpu_hz))


def _repair(state: RoundState, module: np.ndarray, reason: list[str], cpu_hz, cells: np.ndarray) -> int:
    """Make every listed cell feasible: the device needing most bandwidth at p_max moves one module
    down (modules are ordered by rank), or is dropped with reason 'infeasible'. Returns the step count."""
    steps = 0
    windows = state.upload_window_s(cpu_hz)
    for c in cells:
        pool = state.cell_bandwidth_hz[c]
        idx = np.flatnonzero((module >= 0) & (state.cell == c))
        need = min_bandwidth_or_inf(
            rows(state, module, state.payload_bits)[idx],
            window_s=rows(state, module, windows)[idx],
            p_max_w=state.p_max_w[idx],
            gain_lin=state.gain_lin[idx],
            noise_psd_w_per_hz=state.noise_psd_w_per_hz[idx],
        )
        while len(idx) and not (np.all(np.isfinite(need)) and need.sum() <= pool * (1 + 1e-9)):
            steps += 1
            j = int(np.argmax(np.where(np.isfinite(need), need, np.inf)))
            d = idx[j]
            if module[d] > 0:
                module[d] -= 1
                need[j] = min_bandwidth_or_inf(
                    state.payload_bits[d, module[d]],
                    window_s=windows[d, module[d]],
                    p_max_w=state.p_max_w[d],
                    gain_lin=state.gain_lin[d],
                    noise_psd_w_per_hz=state.noise_psd_w_per_hz[d],
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


def _circuit_power_step(state, idx, bits, win, bandwidth, power, fill, top) -> np.ndarray:
    """Raise each device's power to the level that minimises (p + P_c)·airtime within its window: in closed form
    for fixed payloads (`circuit_optimal_power_w`), by search where the payload grows with its airtime."""
    circuit, gain, noise, p_max = (x[idx] for x in (state.circuit_w, state.gain_lin, state.noise_psd_w_per_hz,
                                                    state.p_max_w))  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        p_fill = tx_power_for_window_w(bits, window_s=win, bandwidth_hz=bandwidth, gain_lin=gain,
                                       noise_psd_w_per_hz=noise)  # fmt: skip
        ok = (bandwidth > 0) & (win > 0) & (gain > 0) & np.isfinite(p_fill) & (p_fill <= p_max * (1 + 1e-9))
        p_best = np.clip(circuit_optimal_power_w(bandwidth_hz=bandwidth, gain_lin=gain, noise_psd_w_per_hz=noise,
                                                 circuit_w=circuit), p_fill * (1 + 1e-9), p_max)  # fmt: skip
    p_best = np.where(ok & np.isfinite(p_best), p_best, 0.0)
    grows = np.asarray(fill) > 0
    if np.any(grows):
        g = np.flatnonzero(grows)
        p_best[g], _ = best_power_w(
            bits[g], window_s=win[g], bandwidth_hz=bandwidth[g], gain_lin=gain[g], noise_psd_w_per_hz=noise[g],
            p_max_w=p_max[g], circuit_w=circuit[g], price=1.0, value=0.0, waterfall_m=None, fill_s=fill[g],
            max_bits=top[g],
        )  # fmt: skip
    return np.where((circuit > 0) & (p_best > 0), np.maximum(p_best, power), power)


def _tx_energy(state, idx, bits, bandwidth, power, fill, top) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = channels.shannon_rate_bps(
            bandwidth, power_w=power, gain_lin=state.gain_lin[idx], noise_psd_w_per_hz=state.noise_psd_w_per_hz[idx]
        )
        return np.where(
            bits > 0, (power + state.circuit_w[idx]) * channels.airtime_s(bits, rate, fill_s=fill, max_bits=top), 0.0
        )


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

    Payloads that fill their window (`RoundState.payload_fill`) are split for their floor `payload_bits`:
    at any power and bandwidth their energy is at least the floor's, and without circuit power the floor's
    minimum fills the whole window, where the two are equal (airtime = window ≥ payload_fill·window), so it is
    their minimum too. With circuit power the power step prices the grown airtime, max(S/r, payload_fill·window),
    so it no longer shortens an airtime the payload would fill anyway (checked against a brute-force search on
    a two-device cell; not proven in general).
    """
    module = module.copy()
    k = state.num_devices
    power, bandwidth = np.zeros(k), np.zeros(k)
    repairs = 0
    for _ in range(3):  # the repair makes every cell feasible, so a second pass only confirms it
        idx = np.flatnonzero(module >= 0)
        if len(idx) == 0:
            break
        win = device_windows(state, module, cpu_hz)[idx]
        bits = rows(state, module, state.payload_bits)[idx]
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
    if np.any(sel & (state.circuit_w > 0)):  # a second split over airtimes pays only with circuit power
        idx = np.flatnonzero(sel)
        win = device_windows(state, module, cpu_hz)[idx]
        bits = rows(state, module, state.payload_bits)[idx]
        fill, top = (rows(state, module, x)[idx] for x in state.payload_growth(cpu_hz))
        price = np.ones(len(idx)) if weights is None else np.maximum(weights[idx], 0.0)
        b, p = bandwidth[idx], _circuit_power_step(state, idx, bits, win, bandwidth[idx], power[idx], fill, top)
        cost = float(np.sum(price * _tx_energy(state, idx, bits, b, p, fill, top)))
        for _ in range(2):
            with np.errstate(divide="ignore", invalid="ignore"):
                rate = channels.shannon_rate_bps(
                    b, power_w=p, gain_lin=state.gain_lin[idx], noise_psd_w_per_hz=state.noise_psd_w_per_hz[idx]
                )
                air = channels.airtime_s(bits, rate)
            tight = np.where(np.isfinite(air) & (air > 0), np.minimum(win, air * (1 + 1e-6)), win)
            b2, p2, ok = _split_cells(state, idx, bits, tight, None if weights is None else weights[idx], solver)
            if not np.all(ok[np.unique(state.cell[idx])]):
                break
            p2 = _circuit_power_step(state, idx, bits, win, b2, np.maximum(p2, 0.0), fill, top)
            cost2 = float(np.sum(price * _tx_energy(state, idx, bits, b2, p2, fill, top)))
            if not cost2 < cost * (1 - 1e-9):
                break
            b, p, cost = b2, p2, cost2
        bandwidth[idx], power[idx] = b, p
    return module, power, bandwidth, repairs


def bandwidth_needed_at_pmax(state: RoundState) -> np.ndarray:
    """[K, M] least bandwidth that sends each module within its window at p_max and full CPU speed (inf: none)."""
    return min_bandwidth_or_inf(
        state.payload_bits,
        window_s=state.upload_window_s(state.cpu_hz_max),
        p_max_w=state.p_max_w[:, None],
        gain_lin=state.gain_lin[:, None],
        noise_psd_w_per_hz=state.noise_psd_w_per_hz[:, None],
    )


def plannable(state: RoundState) -> np.ndarray:
    """[K, M] modules a device could send in time over its whole cell at p_max."""
    need = bandwidth_needed_at_pmax(state)
    return np.isfinite(need) & (need <= state.cell_bandwidth_hz[state.cell][:, None] * (1 + 1e-9))


def dvfs_step(state: RoundState, module: np.ndarray, bandwidth: np.ndarray, cpu_hz: np.ndarray) -> np.ndarray:
    """Given bandwidth, each DVFS device's energy-minimal CPU frequency (`best_cpu_hz`); others keep theirs."""
    sel = np.flatnonzero((module >= 0) & state.dvfs & (bandwidth > 0))
    if len(sel) == 0:
        return cpu_hz
    m = module[sel]
    f, e = best_cpu_hz(
        state.cycles[sel, m],
        kappa=state.kappa[sel],
        f_min=state.cpu_hz_min[sel],
        f_max=state.cpu_hz_max[sel],
        time_left_s=state.deadline_s - state.downlink_time_s[sel],
        bits=state.payload_bits[sel, m],
        bandwidth_hz=bandwidth[sel],
        gain_lin=state.gain_lin[sel],
        noise_psd_w_per_hz=state.noise_psd_w_per_hz[sel],
        p_max_w=state.p_max_w[sel],
        circuit_w=state.circuit_w[sel],
        margin=PLANNING_MARGIN,
        grid=8,
        iters=10,
    )
    out = cpu_hz.copy()
    out[sel] = np.where(np.isfinite(e), f, cpu_hz[sel])
    return out
