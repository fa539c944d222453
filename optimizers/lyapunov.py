"""Online drift-plus-penalty control of module switching, CPU frequency, power and bandwidth (arXiv 2509.19306)."""

from __future__ import annotations

import numpy as np

import channels
from optimizers.packet_split import packet_error_split
from optimizers.planning import (
    SKIP,
    cap_clients,
    dvfs_step,
    finish,
    initial_reasons,
    plannable,
    predicted_energy_j,
    split_energy_min,
)
from optimizers.queue import EnergyQueue
from optimizers.solvers import best_cpu_hz, best_power_w
from optimizers.types import PLANNING_MARGIN, Allocation, RoundOutcome, RoundState


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
    against V·w_k·(G − ε)·(1 − q_k)); (e) with packet errors, the bandwidth split again, now pricing the
    same trade (at a fixed power more bandwidth lowers the SNR and raises q_k), then power again — kept
    when it lowers the round's objective.
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
        price_packet_errors: bool = True,
    ) -> None:
        self.V, self.solver, self.max_iterations, self.ema, self.miss_penalty = (
            V,
            solver,
            max_iterations,
            ema,
            miss_penalty,
        )
        self.price_packet_errors = price_packet_errors
        self.energy_queue = EnergyQueue()
        self.queue_j = np.zeros(0)  # the queues this round's decision prices with
        self.residual: dict[int, float] | None = None
        self._budget: np.ndarray | None = None

    def _residuals(self, ranks: tuple[int, ...]) -> np.ndarray:
        if self.residual is None or set(self.residual) != set(ranks):
            r_max = max(ranks) if max(ranks) > 0 else 1
            self.residual = {r: (0.0 if r == 0 else 1.0 - r / r_max) for r in ranks}
        return np.array([min(max(self.residual[r], 0.0), 1.0) for r in ranks])

    def _options(self, state, bandwidth, value, price, can_plan, known=None):
        """([K, M] cost of each module at its best CPU frequency and power over `bandwidth` (inf where `can_plan` is
        not), what a later call reuses): `known`, an earlier call's second value, spares the devices whose
        bandwidth is unchanged."""
        k, m = state.payload_bits.shape
        todo = np.ones(k, dtype=bool) if known is None else bandwidth != known[0]
        flat = (todo[:, None] & can_plan).ravel()

        def per_entry(x):  # a per-device array repeated per module, for the entries to decide
            return np.repeat(x, m)[flat]

        b = per_entry(bandwidth)
        cpu = np.repeat(state.cpu_hz_max, m) if state.cpu_hz_max is not None else None
        if known is not None and known[2] is not None:
            cpu = known[2].ravel().copy()
        if state.cycles is not None and np.any(state.dvfs):
            f, e = best_cpu_hz(
                state.cycles.ravel()[flat],
                kappa=per_entry(state.kappa),
                f_min=per_entry(state.cpu_hz_min),
                f_max=per_entry(state.cpu_hz_max),
                time_left_s=per_entry(state.deadline_s - state.downlink_time_s),
                bits=state.payload_bits.ravel()[flat],
                bandwidth_hz=b,
                gain_lin=per_entry(state.gain_lin),
                noise_psd_w_per_hz=per_entry(state.noise_psd_w_per_hz),
                p_max_w=per_entry(state.p_max_w),
                circuit_w=per_entry(state.circuit_w),
                margin=PLANNING_MARGIN,
                grid=6,
                iters=4,
            )
            dv = per_entry(state.dvfs) & (b > 0)
            cpu[flat] = np.where(dv & np.isfinite(e), f, np.repeat(state.cpu_hz_max, m)[flat])
        cpu_km = None if cpu is None else cpu.reshape(k, m)
        comp_t, comp_e = state.compute_at(cpu_km)
        window = state.upload_window_s(cpu_km)
        fill, top = state.payload_growth(cpu_km)
        up = np.full(k * m, np.inf) if known is None else known[1].copy()
        _, up[flat] = best_power_w(
            state.payload_bits.ravel()[flat],
            window_s=window.ravel()[flat],
            bandwidth_hz=b,
            gain_lin=per_entry(state.gain_lin),
            noise_psd_w_per_hz=per_entry(state.noise_psd_w_per_hz),
            p_max_w=per_entry(state.p_max_w),
            circuit_w=per_entry(state.circuit_w),
            price=per_entry(price),
            value=value.ravel()[flat],
            waterfall_m=state.waterfall_m,
            fill_s=fill.ravel()[flat],
            max_bits=top.ravel()[flat],
            grid=6,
            iters=4,
        )
        cost = price[:, None] * comp_e + up.reshape(k, m)
        return np.where(np.isfinite(cost) & can_plan, cost, np.inf), (bandwidth.copy(), up, cpu_km)

    def _evaluate(self, state, module, power, bandwidth, cpu, weights, eps):
        """(objective, penalty, drift, energy [K], q [K]) of a complete plan."""
        sel = module >= 0
        g = self.miss_penalty
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            snr = channels.snr_lin(power, state.gain_lin, state.noise_psd_w_per_hz, bandwidth)
            q = (
                1.0 - channels.packet_success_prob(snr, waterfall_m=state.waterfall_m)
                if state.waterfall_m is not None
                else np.zeros_like(snr)
            )
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
        self.queue_j = self.energy_queue.values_j(k_dev)
        eps = self._residuals(state.ranks)
        total = float(np.sum(np.where(np.isfinite(state.num_samples), state.num_samples, 0.0)))
        weights = np.nan_to_num(state.num_samples, nan=0.0) / total if total > 0 else np.zeros(k_dev)
        reason = initial_reasons(state)
        ok = np.array([r == "" for r in reason], dtype=bool)
        can_plan = plannable(state) & ok[:, None]
        for d in np.flatnonzero(ok & ~can_plan.any(axis=1)):
            reason[d] = "infeasible"
        ok &= can_plan.any(axis=1)
        value = self.V * weights[:, None] * (self.miss_penalty - eps[None, :])  # [K, M] worth of an intact update
        price = self.queue_j
        n_cells = len(state.cell_bandwidth_hz)
        counts = np.bincount(state.cell[ok], minlength=n_cells)
        equal_b = np.where(ok, state.cell_bandwidth_hz[state.cell] / np.maximum(counts[state.cell], 1), 0.0)
        bandwidth = equal_b.copy()
        split_w = self.queue_j + 1e-6 * max(float(self.queue_j.max(initial=0.0)), 1e-12)
        best, best_obj, iterations, best_choice, known = None, np.inf, 0, None, None
        for it in range(self.max_iterations):
            iterations = it + 1
            # (a) switching: every device scores skip (0) and each module at its best frequency and power.
            cost, known = self._options(state, bandwidth, value, price, can_plan, known)
            options = np.concatenate([np.zeros((k_dev, 1)), cost], axis=1)
            module = np.where(ok, np.argmin(options, axis=1) - 1, SKIP)
            cand = np.flatnonzero(module >= 0)
            best_cost = options.min(axis=1)
            keep = cap_clients(state, cand, best_cost)
            module[np.setdiff1d(cand, keep)] = SKIP
            if best_choice is not None and np.array_equal(module, best_choice):
                break  # (b)-(e) depend on the switching step's modules only: they would repeat the plan kept
            choice = module.copy()
            # (b) queue-weighted energy-minimal split; (c) CPU frequency, then power, per device.
            cpu = state.cpu_hz_max.copy() if state.cpu_hz_max is not None else None
            rs = list(reason)
            module, power, bw_new, repairs = split_energy_min(
                state, module, rs, self.solver, weights=split_w, cpu_hz=cpu
            )
            if cpu is not None and np.any(state.dvfs):
                cpu = dvfs_step(state, module, bw_new, cpu)
            power = self._power_step(state, module, power, bw_new, cpu, price, value)
            obj, penalty, drift, energy, q = self._evaluate(state, module, power, bw_new, cpu, weights, eps)
            if state.waterfall_m is not None and self.price_packet_errors:
                # (e) bandwidth priced with packet errors, then power again; kept only where it lowers the objective.
                bw_pe = self._bandwidth_step(state, module, power, bw_new, cpu, price, value)
                power_pe = self._power_step(state, module, power, bw_pe, cpu, price, value)
                found = self._evaluate(state, module, power_pe, bw_pe, cpu, weights, eps)
                if found[0] < obj:
                    (obj, penalty, drift, _, q), power, bw_new = found, power_pe, bw_pe
            if best is None or obj < best_obj - 1e-12 * max(1.0, abs(best_obj)):
                best_obj = obj
                best = (module.copy(), power.copy(), bw_new.copy(), cpu, penalty, drift, repairs, rs, q)
                best_choice = choice  # what the switching step chose, before the split's repairs
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
        return finish(state, module, power, bandwidth, final_reason, terms, cpu_hz=cpu, q=q)

    @staticmethod
    def _bandwidth_step(state, module, power, bandwidth, cpu, price, value) -> np.ndarray:
        """(e) each cell's split of its pool among the selected devices at their powers, pricing energy against
        packet errors (which grow with bandwidth at a fixed power); see `packet_error_split`."""
        sel = np.flatnonzero(module >= 0)
        if not len(sel):
            return bandwidth
        m = module[sel]
        fill, top = (x[sel, m] for x in state.payload_growth(cpu))
        out = bandwidth.copy()
        out[sel] = packet_error_split(
            state.cell[sel], state.cell_bandwidth_hz, bandwidth_hz=bandwidth[sel], power_w=power[sel],
            bits=state.payload_bits[sel, m], window_s=state.upload_window_s(cpu)[sel, m],
            gain_lin=state.gain_lin[sel], noise_psd_w_per_hz=state.noise_psd_w_per_hz[sel],
            circuit_w=state.circuit_w[sel], price=price[sel], value=value[sel, m], waterfall_m=state.waterfall_m,
            fill_s=fill, max_bits=top,
        )  # fmt: skip
        return out

    @staticmethod
    def _power_step(state, module, power, bandwidth, cpu, price, value) -> np.ndarray:
        """(d) each selected device's power: the best trade of priced energy against packet errors, where
        one meets the window (the split's power otherwise)."""
        sel = np.flatnonzero(module >= 0)
        if not len(sel):
            return power
        m = module[sel]
        fill, top = (x[sel, m] for x in state.payload_growth(cpu))
        p_opt, c_opt = best_power_w(
            state.payload_bits[sel, m],
            window_s=state.upload_window_s(cpu)[sel, m],
            bandwidth_hz=bandwidth[sel],
            gain_lin=state.gain_lin[sel],
            noise_psd_w_per_hz=state.noise_psd_w_per_hz[sel],
            p_max_w=state.p_max_w[sel],
            circuit_w=state.circuit_w[sel],
            price=price[sel],
            value=value[sel, m],
            waterfall_m=state.waterfall_m,
            fill_s=fill,
            max_bits=top,
            grid=8,
            iters=10,
        )
        power = power.copy()
        power[sel] = np.where(np.isfinite(c_opt), p_opt, power[sel])
        return power

    def observe(self, outcome: RoundOutcome) -> None:
        if self._budget is not None:
            self.energy_queue.add(spent_j=outcome.energy_j, budget_j=self._budget * outcome.budget_share)
            self.queue_j = self.energy_queue.values_j(len(self._budget))
        if outcome.rank_residual and self.residual is not None:
            for r, e in outcome.rank_residual.items():
                if r in self.residual and np.isfinite(e):
                    self.residual[r] = (1 - self.ema) * self.residual[r] + self.ema * float(min(max(e, 0.0), 1.0))
