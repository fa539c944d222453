"""Runs a scenario: world + policy + learner, round by round, into a run directory.

Data flow of a round: the world gives channel state -> the policy decides modules, power
and bandwidth -> selected devices really train (real bytes, real FLOPs) -> SimPy plays downlink,
compute and uplink against the deadline -> arrived updates are aggregated -> evaluation -> the
policy observes the outcome -> rows for rounds.csv and devices.csv.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import channels
import optimizers
from fedwireless import __version__
from fedwireless.codecs.ratio import paper_compression_ratio, paper_compression_ratio_rounds
from fedwireless.columns import DEVICE_COLUMNS, DROP_REASONS, ROUND_COLUMNS
from fedwireless.engine import DeviceRound, run_round
from fedwireless.feasibility import idle_round, untrainable
from fedwireless.learning.flops import local_step_count
from fedwireless.results import (
    SUMMARY_FILE,
    check_output,
    git_commit,
    publish,
    remove_stale_staging,
    staging_dir,
    write_csv,
    write_json,
    write_marker,
    write_yaml,
)
from fedwireless.rng import Streams
from fedwireless.scenario import Scenario, scenario_to_dict
from fedwireless.world import World

log = logging.getLogger("fedwireless.run")


class RunCallbacks:
    """Hooks for progress display; the default does nothing."""

    def setup_status(self, message: str) -> None: ...

    def start(self, total_rounds: int) -> None: ...

    def round_done(self, row: dict[str, Any]) -> None: ...


def build_learner(sc: Scenario, streams: Streams, cache_dir: Path | None = None, status=None) -> Any:
    """The real learner, or the surrogate; `status(message)` hears setup progress (data, pre-training)."""
    if sc.surrogate is not None:
        from fedwireless.surrogate import SurrogateLearner

        return SurrogateLearner(sc, streams.get("partition"), streams.get("data"))
    from fedwireless.learning.learner import Learner  # torch + peft: imported only to train for real

    return Learner(
        sc.task,
        sc.federated,
        num_devices=sc.num_devices,
        device_groups=sc.device_group_names(),
        seeds=streams.seed_sequence("learning"),
        cache_dir=cache_dir,
        status=status,
        device_models=sc.device_models(),
        device_preferences=sc.device_preferences(),
    )


def module_ranks(sc: Scenario) -> tuple[int, ...]:
    """Module options the policy chooses from: LoRA ranks, or the one full-parameter module (rank 0)."""
    return (0,) if sc.federated.training == "full" else tuple(sc.federated.ranks)


# A mean cross-entropy this large comes only from weights that blew up (a sane one is about ln(classes or
# vocabulary) at most, under 20 for any real vocabulary).
DIVERGED_TRAIN_LOSS = 1e6


class Simulation:
    """A scenario in progress; `step()` plays one round. Use `run_scenario` for a whole run."""

    def __init__(self, sc: Scenario, *, learner: Any = None, cache_dir: Path | None = None, status=None) -> None:
        self.sc = sc
        self.streams = Streams(sc.seed)
        self.world = World(sc, self.streams)
        self.learner = learner if learner is not None else build_learner(sc, self.streams, cache_dir, status)
        self.policy = optimizers.make_policy(sc.policy.name, dict(sc.policy.params), self.streams.get("policy"))
        self._availability_rng = self.streams.get("availability")
        self._packet_rng = self.streams.get("packets")
        self.ranks = module_ranks(sc)
        k = self.world.num_devices
        self.queue_j = np.zeros(k)
        self.num_samples = np.asarray(self.learner.num_samples(), dtype=float)
        self.round_index = 0
        self._round_info: dict[int, dict] = {}  # per device, the method's figures of the round (e.g. topk)
        self.diverged_round: int | None = None  # first round that diverged (see `step`)
        self.sim_time_s = 0.0
        # Per round: bytes the trained clients uploaded, one broadcast's bytes, clients (compression ratio).
        self._cr_rounds: list[tuple[float, float, int]] = []
        self.round_rows: list[dict[str, Any]] = []
        self.device_rows: list[dict[str, Any]] = []
        self.timing_rows: list[dict[str, Any]] = []
        # Per-module planning figures: the same for every round (the model does not change shape).
        self._payload_bits = np.array([self.learner.expected_payload_bits(r) for r in self.ranks], dtype=float)
        # Payloads that follow the rate: policies plan with their floor, their ceiling and the window share.
        growth = self.learner.payload_growth()
        self._payload_fill, self._payload_max_bits = None, None
        if growth is not None:
            least, most, self._payload_fill = growth
            self._payload_bits = np.full(len(self.ranks), float(least))
            self._payload_max_bits = np.full(len(self.ranks), float(most))
        # [devices, modules] FLOPs of local training: expected here (the warning below), then those of each
        # round's own batches (`step`), so policies plan with what the engine charges.
        self._flops = self._module_flops(self.learner.expected_flops)
        g = sc.devices
        self._compute_power_w = np.concatenate([np.full(x.count, self._compute_power(x.compute)) for x in g])
        t = sc.task
        self._steps = np.array([local_step_count(int(n), local_steps=t.local_steps, local_epochs=t.local_epochs,
                                                 batch_size=t.batch_size) for n in self.num_samples])  # fmt: skip
        self.rounds_without_training = 0
        warning = untrainable(channels.compute_time_s_flops(self._flops, self.world.flops_per_s[:, None]), self._flops,
                              self.world.flops_per_s, self._steps, self.world.group_names, sc.deadline_s)  # fmt: skip
        if warning:
            log.warning(warning)
        metrics = self.learner.evaluate()
        self.round_rows.append(self._round_row(0, 0.0, metrics, [], [], {}, 0))

    def _module_flops(self, per_rank) -> np.ndarray:
        k = self.world.num_devices
        return np.stack([np.broadcast_to(per_rank(r), (k,)) for r in self.ranks], axis=1).astype(float)

    @staticmethod
    def _compute_power(c: Any) -> float:
        """Watts while training: energy of one second of FLOPs at the device's speed."""
        one_second = c.flops_per_s
        if c.j_per_flop is not None:
            return float(channels.compute_energy_j_flops(one_second, j_per_flop=c.j_per_flop))
        return float(
            channels.compute_energy_j_flops(
                one_second, kappa=c.kappa, cpu_hz=c.cpu_hz, flops_per_cycle=c.flops_per_cycle
            )
        )

    def _state(self, available: np.ndarray, gain: np.ndarray, downlink_s: np.ndarray) -> optimizers.RoundState:
        w = self.world
        compute_time = channels.compute_time_s_flops(self._flops, w.flops_per_s[:, None])
        pe = self.sc.channel.packet_errors
        return optimizers.RoundState(
            round_index=self.round_index,
            deadline_s=self.sc.deadline_s,
            ranks=self.ranks,
            available=available,
            gain_lin=gain,
            noise_psd_w_per_hz=w.uplink_noise_psd(),
            cell=w.serving.copy(),
            cell_bandwidth_hz=w.bs_ul_bandwidth_hz.copy(),
            p_max_w=w.p_max_w.copy(),
            payload_bits=np.broadcast_to(self._payload_bits, compute_time.shape).copy(),
            payload_fill=self._payload_fill,
            payload_max_bits=None
            if self._payload_max_bits is None
            else np.broadcast_to(self._payload_max_bits, compute_time.shape).copy(),
            compute_time_s=compute_time,
            compute_energy_j=compute_time * self._compute_power_w[:, None],
            downlink_time_s=downlink_s,
            energy_budget_j=w.energy_budget_j.copy(),
            num_samples=self.num_samples.copy(),
            max_clients=self.sc.federated.clients_per_round,
            circuit_power_w=w.circuit_power_w.copy(),
            waterfall_m=pe.waterfall_m if pe.enabled else None,
            cycles=self._flops / w.flops_per_cycle[:, None],
            kappa=w.kappa.copy(),
            cpu_hz_min=w.cpu_hz_min.copy(),
            cpu_hz_max=w.cpu_hz_max.copy(),
        )

    def step(self) -> dict[str, Any]:
        sc, w = self.sc, self.world
        self.round_index += 1
        t_wall = time.perf_counter()
        w.start_round()
        k = w.num_devices
        available = self._availability_rng.random(k) < w.availability
        gain = w.gain_lin()
        downlink_payload = self.learner.downlink_payload()
        dl_bits = 8 * len(downlink_payload)
        with np.errstate(divide="ignore"):  # no downlink at all: inf, and the policy skips the device
            downlink_s = dl_bits / w.downlink_rate_bps(gain)
        self._flops = self._module_flops(self.learner.next_round_flops)
        state = self._state(available, gain, downlink_s)
        alloc = self.policy.decide(state)
        t_decide = time.perf_counter()

        selected = np.flatnonzero(alloc.module >= 0)
        if len(selected) == 0:
            self.rounds_without_training += 1
            log.warning(
                idle_round(
                    self.round_index,
                    available,
                    state.compute_time_s,
                    downlink_s,
                    self._flops,
                    w.flops_per_s,
                    self._steps,
                    w.group_names,
                    sc.deadline_s,
                    sc.policy.name,
                )
            )
        assignments = [(int(d), int(self.ranks[alloc.module[d]])) for d in selected]
        flops_per_s, compute_power_w = self._compute_speed(state, alloc)
        budgets = self._uplink_budget_bits(alloc, gain, downlink_s, flops_per_s, selected)
        updates = self.learner.train_clients(assignments, budgets)
        t_train = time.perf_counter()

        by_device = {u.device: u for u in updates}
        self._round_info = {u.device: getattr(u, "info", {}) for u in updates}
        plays = [
            DeviceRound(
                device=int(d),
                cell=int(w.serving[d]),
                power_w=float(alloc.power_w[d]),
                bandwidth_hz=float(alloc.bandwidth_hz[d]),
                downlink_bits=dl_bits,
                uplink_bits=8 * len(by_device[d].payload),
                flops=float(by_device[d].flops),
                flops_per_s=float(flops_per_s[d]),
                compute_power_w=float(compute_power_w[d]),
                circuit_power_w=float(w.circuit_power_w[d]),
                downlink_s=float(downlink_s[d]),
            )
            for d in selected
        ]
        ch = sc.channel
        round_s = run_round(
            w,
            plays,
            sc.deadline_s,
            correlated=ch.coherence == "correlated",
            step_s=ch.coherence_step_s,
            packet_errors=ch.packet_errors.enabled,
            waterfall_m=ch.packet_errors.waterfall_m,
            packet_rng=self._packet_rng,
        )
        self.sim_time_s += round_s
        t_sim = time.perf_counter()
        # The paper's compression ratio counts every trained client's full upload and one broadcast each.
        round_cr = float("nan")
        if plays:
            self._cr_rounds.append((sum(p.uplink_bits for p in plays) / 8, dl_bits / 8, len(plays)))
            params = getattr(self.learner, "compression_params", None)
            if params is not None and params() > 0:
                round_cr = paper_compression_ratio(*self._cr_rounds[-1], params())

        arrived = [by_device[p.device] for p in plays if p.arrived]
        self.learner.aggregate(arrived)
        t_agg = time.perf_counter()
        metrics = self.learner.evaluate()
        t_eval = time.perf_counter()
        # Diverged: a non-finite evaluation, or a client whose training loss blew up. Weights that overflow can
        # also leave a finite but dead model (a normalisation of inf gives zeros, every logit 0).
        blown = any(u.train_loss > DIVERGED_TRAIN_LOSS or np.isinf(u.train_loss) for u in updates)
        if blown or not (np.isfinite(metrics["loss"]) and np.isfinite(metrics["accuracy"])):
            self.diverged_round = self.round_index

        energy = np.zeros(k)
        for p in plays:
            energy[p.device] = p.compute_energy_j + p.tx_energy_j
        arrived_mask = np.zeros(k, dtype=bool)
        arrived_mask[[p.device for p in plays if p.arrived]] = True
        self.policy.observe(
            optimizers.RoundOutcome(
                round_index=self.round_index,
                module=alloc.module.copy(),
                arrived=arrived_mask,
                energy_j=energy.copy(),
                accuracy=float(metrics["accuracy"]),
                loss=float(metrics["loss"]),
                rank_residual=(
                    self.learner.rank_residuals()
                    if getattr(self.policy, "uses_rank_residual", False) and hasattr(self.learner, "rank_residuals")
                    else None
                ),
            )
        )
        queue_before = self.queue_j.copy()
        budget = w.energy_budget_j
        # Virtual energy queue, Q_k(t+1) = max(Q_k(t) + E_k(t) − Ē_k, 0), kept for every policy.
        self.queue_j = np.where(
            np.isfinite(budget),
            np.maximum(self.queue_j + energy - np.where(np.isfinite(budget), budget, 0.0), 0.0),
            0.0,
        )

        self._device_rows(alloc, state, plays, available, gain, energy, queue_before)
        row = self._round_row(self.round_index, round_s, metrics, plays, selected, dict(alloc.terms), dl_bits)
        row["compression_ratio"] = round_cr
        self.round_rows.append(row)
        self.timing_rows.append(
            {
                "round": self.round_index,
                "decide_s": t_decide - t_wall,
                "train_s": t_train - t_decide,
                "simulate_s": t_sim - t_train,
                "aggregate_s": t_agg - t_sim,
                "evaluate_s": t_eval - t_agg,
                "total_s": time.perf_counter() - t_wall,
            }
        )
        return row

    def _uplink_budget_bits(self, alloc, gain, downlink_s, flops_per_s, selected) -> dict[int, float]:
        """Bits each selected device can upload before the deadline at its allocation, on the channel as the
        round starts: rate × (deadline − downlink − planned compute), for payloads that follow the channel."""
        w = self.world
        rate = channels.shannon_rate_bps(
            alloc.bandwidth_hz, power_w=alloc.power_w, gain_lin=gain, noise_psd_w_per_hz=w.uplink_noise_psd()
        )
        out = {}
        for d in selected:
            compute_s = self._flops[d, alloc.module[d]] / flops_per_s[d]
            window = self.sc.deadline_s - downlink_s[d] - compute_s
            out[int(d)] = float(rate[d] * max(window, 0.0)) if np.isfinite(window) else 0.0
        return out

    def _compute_speed(self, state, alloc) -> tuple[np.ndarray, np.ndarray]:
        """[K] FLOP/s and compute power at each device's frequency: the chosen one where DVFS applies.

        Cycles model: speed = flops_per_cycle·f, power = κ·f³ (κ·C·f² joules over C/f seconds).
        """
        w = self.world
        if alloc.cpu_hz is None:
            return w.flops_per_s, self._compute_power_w
        use = state.dvfs & (alloc.cpu_hz > 0)
        f = np.where(use, alloc.cpu_hz, w.cpu_hz_max)
        return (
            np.where(use, w.flops_per_cycle * f, w.flops_per_s),
            np.where(use, w.kappa * f**3, self._compute_power_w),
        )

    def _round_row(self, r, round_s, metrics, plays, selected, terms, dl_bits) -> dict[str, Any]:
        row: dict[str, Any] = {
            "round": r,
            "sim_time_s": self.sim_time_s,
            "round_s": round_s,
            "accuracy": float(metrics["accuracy"]),
            "loss": float(metrics["loss"]),
        }
        for extra in sorted(set(metrics) - {"accuracy", "loss"}):
            row[extra] = float(metrics[extra])
        row.update(
            energy_j=float(sum(p.compute_energy_j + p.tx_energy_j for p in plays)),
            compute_energy_j=float(sum(p.compute_energy_j for p in plays)),
            tx_energy_j=float(sum(p.tx_energy_j for p in plays)),
            uplink_bits=int(round(sum(p.bits_sent for p in plays))),
            downlink_bits=int(dl_bits * len(plays)),
            selected=len(selected),
            arrived=sum(p.arrived for p in plays),
            dropped=sum(not p.arrived for p in plays),
        )
        for reason in DROP_REASONS:
            row[f"dropped_{reason.replace('-', '_')}"] = sum(p.drop_reason == reason for p in plays)
        for key in sorted(terms):
            row[f"policy_{key}" if key in row else key] = float(terms[key])
        return row

    def _device_rows(self, alloc, state, plays, available, gain, energy, queue_before) -> None:
        w = self.world
        by_dev = {p.device: p for p in plays}
        cell_bw = w.bs_ul_bandwidth_hz[w.serving]
        snr_db = channels.snr_db(w.p_max_w, gain, w.uplink_noise_psd(), cell_bw)
        dist = w.distance_m()
        los = w.serving_los()
        evals = list(getattr(self.learner, "device_metrics", []))
        evals += [{}] * (w.num_devices - len(evals))
        for d in range(w.num_devices):
            p = by_dev.get(d)
            m = int(alloc.module[d])
            row = {
                "round": self.round_index,
                "device": d,
                "group": w.group_names[d],
                "base_station": w.bs_names[w.serving[d]],
                "x_m": float(w.pos_m[d, 0]),
                "y_m": float(w.pos_m[d, 1]),
                "distance_m": float(dist[d]),
                "los": bool(los[d]),
                "gain_db": float(channels.lin_to_db(gain[d])),
                "snr_db": float(snr_db[d]),
                "available": bool(available[d]),
                "module": "skip" if m < 0 else ("full" if self.ranks[m] == 0 else f"r{self.ranks[m]}"),
                "rank": 0 if m < 0 else int(self.ranks[m]),
                "power_w": float(alloc.power_w[d]),
                "bandwidth_hz": float(alloc.bandwidth_hz[d]),
                "cpu_hz": float(alloc.cpu_hz[d]) if alloc.cpu_hz is not None and m >= 0 else 0.0,
                "payload_bits": p.uplink_bits if p else 0,
                "flops": p.flops if p else 0.0,
                "downlink_s": p.downlink_s if p else 0.0,
                "compute_s": p.compute_s if p else 0.0,
                "upload_s": p.upload_s if p else 0.0,
                "arrival_s": p.arrival_s if p else float("nan"),
                "compute_energy_j": p.compute_energy_j if p else 0.0,
                "tx_energy_j": p.tx_energy_j if p else 0.0,
                "energy_j": float(energy[d]),
                "packet_error_prob": p.packet_error_prob if p else 0.0,
                "arrived": bool(p.arrived) if p else False,
                "drop_reason": (p.drop_reason if p else alloc.skip_reason[d]) or "",
                "queue": float(queue_before[d]),
                # Empty where the device has no budget (inf in memory).
                "energy_budget_j": float(w.energy_budget_j[d]) if np.isfinite(w.energy_budget_j[d]) else float("nan"),
                # The global model on this device's own held-out rows (empty without real learning).
                "topk": int(self._round_info.get(d, {}).get("topk", 0)),
                "eval_accuracy": float(evals[d].get("accuracy", float("nan"))),
                "eval_loss": float(evals[d].get("loss", float("nan"))),
                # pwff: reward of the device's own model's answers, and of the global model's, at its preference.
                "eval_reward": float(evals[d].get("reward", float("nan"))),
                "eval_reward_global": float(evals[d].get("reward_global", float("nan"))),
            }
            self.device_rows.append(row)

    def summary(self, wall_time_s: float) -> dict[str, Any]:
        last = self.round_rows[-1]
        rr = self.round_rows[1:]
        out: dict[str, Any] = {
            "scenario": self.sc.name,
            "policy": self.sc.policy.name,
            "seed": self.sc.seed,
            "rounds": self.round_index,
            "num_devices": self.world.num_devices,
            "sim_time_s": self.sim_time_s,
            "final_accuracy": last["accuracy"],
            "final_loss": last["loss"],
            "initial_accuracy": self.round_rows[0]["accuracy"],
            "total_energy_j": float(sum(r["energy_j"] for r in rr)),
            "total_compute_energy_j": float(sum(r["compute_energy_j"] for r in rr)),
            "total_tx_energy_j": float(sum(r["tx_energy_j"] for r in rr)),
            "total_uplink_bits": int(sum(r["uplink_bits"] for r in rr)),
            "total_downlink_bits": int(sum(r["downlink_bits"] for r in rr)),
            "updates_selected": int(sum(r["selected"] for r in rr)),
            "updates_arrived": int(sum(r["arrived"] for r in rr)),
            "rounds_without_training": self.rounds_without_training,
            "wall_time_s": wall_time_s,
            # True when evaluation gave a non-finite loss: the run stopped there (try a smaller task.lr).
            "diverged": self.diverged_round is not None,
        }
        if self.diverged_round is not None:
            out["diverged_at_round"] = self.diverged_round
        out.update(device_accuracy_summary(getattr(self.learner, "device_metrics", [])))
        for extra in (
            "perplexity",
            "span_accuracy",
            "span_perplexity",
            "all_tokens_accuracy",
            "all_tokens_perplexity",
            "macro_f1",
            "balanced_accuracy",
            "majority_baseline",
            "reward",
            "reward_global",
        ):
            if extra in last:
                out[f"final_{extra}"] = last[extra]
        params = getattr(self.learner, "compression_params", None)
        if params is not None and self._cr_rounds and params() > 0:
            # (Σ client bytes + K · broadcast bytes) / (2K · 4 bytes · P), summed over rounds (arXiv 2504.01947).
            client_b, broadcast_b, clients = zip(*self._cr_rounds)
            out["compression_ratio"] = paper_compression_ratio_rounds(client_b, broadcast_b, clients, params())
        out.update(self.learner.info())
        out.setdefault("learning", "real")
        out["fedwireless_version"] = __version__
        out["git_commit"] = git_commit()
        return out


def device_accuracy_summary(device_metrics: list[dict]) -> dict[str, float]:
    """Mean accuracy over devices and over the worst 10 % of them (at least one), from per-device metrics."""
    acc = np.sort([m["accuracy"] for m in device_metrics if "accuracy" in m])
    if len(acc) == 0:
        return {}
    worst = acc[: max(1, int(np.ceil(0.1 * len(acc))))]
    return {"device_accuracy_mean": float(acc.mean()), "device_accuracy_worst10": float(worst.mean())}


def default_out_dir(sc: Scenario) -> Path:
    return Path(sc.output.dir) if sc.output.dir else Path("runs") / sc.name


def run_scenario(
    sc: Scenario,
    out_dir: Path | None = None,
    *,
    progress: bool = False,
    callbacks: RunCallbacks | None = None,
    cache_dir: Path | None = None,
    plots: bool | None = None,
    on_setup: Callable[[Simulation], None] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run a whole scenario and publish its run directory; return the summary.

    Nothing appears under `out_dir` until the run has finished; on any error the staging folder is
    removed and the exception propagates. An existing `out_dir` is replaced only if fedwireless wrote
    it and `overwrite` is set (`results.OutputError` otherwise, raised before any work).
    """
    out = Path(out_dir) if out_dir is not None else default_out_dir(sc)
    check_output(out, overwrite)
    remove_stale_staging(out)
    cb = callbacks or RunCallbacks()
    t0 = time.perf_counter()
    stage = staging_dir(out)
    if stage.exists():
        shutil.rmtree(stage)
    try:
        sim = Simulation(sc, cache_dir=cache_dir, status=cb.setup_status)
        if on_setup is not None:
            on_setup(sim)
        stage.mkdir(parents=True)
        write_marker(stage, "run")
        write_yaml(
            stage / "scenario.yaml",
            scenario_to_dict(sc),
            header=f"# resolved scenario (defaults filled in), fedwireless {__version__}\n",
        )
        cb.start(sc.rounds)
        for _ in range(sc.rounds):
            cb.round_done(sim.step())
            if sim.diverged_round is not None:
                break  # training blew up: the rounds after it would only repeat non-numbers
        write_csv(stage / "rounds.csv", sim.round_rows, _columns(ROUND_COLUMNS, sim.round_rows))
        write_csv(stage / "devices.csv", sim.device_rows, DEVICE_COLUMNS)
        write_csv(stage / "timing.csv", sim.timing_rows)
        for name, blob in getattr(sim.learner, "artifacts", {}).items():
            (stage / name).write_bytes(blob)
        summary = sim.summary(time.perf_counter() - t0)
        if plots if plots is not None else sc.output.plots:
            from fedwireless.plotting import plot_run

            title = f"{sc.name} — policy {sc.policy.name}, seed {sc.seed}"
            summary["plots"] = [p.name for p in plot_run(stage, title=title)]
        summary["wall_time_s"] = time.perf_counter() - t0
        write_json(stage / SUMMARY_FILE, summary)  # last: its presence marks a finished run
        publish(stage, out, overwrite)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(stage)
        raise
    summary["run_dir"] = str(out)
    return summary


def _columns(first: list[str], rows: list[dict[str, Any]]) -> list[str]:
    cols = list(first)
    for r in rows:
        for key in r:
            if key not in cols:
                cols.append(key)
    return cols
