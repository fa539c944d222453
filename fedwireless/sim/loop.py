"""The round loop: world + policy + learner, one round per `Simulation.step()`.

Data flow of a round: the world gives channel state -> the policy decides modules, power, bandwidth and
CPU frequency -> selected devices really train (real bytes, real FLOPs) -> SimPy plays downlink, compute and
uplink against the server process -> arrived updates are aggregated -> evaluation -> the policy observes
the outcome -> rows for rounds.csv and devices.csv.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import optimizers
from fedwireless.codecs.ratio import paper_compression_ratio, paper_compression_ratio_rounds
from fedwireless.contracts import Learner
from fedwireless.feasibility import idle_round, untrainable
from fedwireless.outputs.columns import ASYNC_ROUND_COLUMNS, HIERARCHICAL_ROUND_COLUMNS, SEMI_SYNC_ROUND_COLUMNS
from fedwireless.outputs.files import git_commit
from fedwireless.rng import Streams
from fedwireless.scenario import Scenario
from fedwireless.sim import rows
from fedwireless.sim.asynchronous import AsyncServerState, dispatch_block
from fedwireless.sim.engine import DevicePlan, LinkSettings, run_round
from fedwireless.sim.hierarchy import EdgeCloud
from fedwireless.sim.late import ClosedRound, LateUpdates
from fedwireless.sim.server import AsyncServer, SemiSyncServer, SyncServer
from fedwireless.sim.state import Planner
from fedwireless.sim.world import World
from fedwireless.version import __version__

log = logging.getLogger("fedwireless.run")

# A mean cross-entropy this large comes only from weights that blew up (a sane one is about ln(classes or
# vocabulary) at most, under 20 for any real vocabulary).
DIVERGED_TRAIN_LOSS = 1e6


def build_learner(sc: Scenario, streams: Streams, cache_dir: Path | None = None, status=None) -> Learner:
    """The real learner, or the surrogate; `status(message)` hears setup progress (data, pre-training)."""
    if sc.surrogate is not None:
        from fedwireless.surrogate import SurrogateLearner

        return SurrogateLearner(sc.surrogate, sc.task, sc.federated, sc.num_devices, streams.get("partition"),
                                streams.get("data"))  # fmt: skip
    from fedwireless.learning.learner import Learner as RealLearner  # torch + peft: imported only to train

    return RealLearner(
        sc.task,
        sc.federated,
        num_devices=sc.num_devices,
        device_groups=sc.device_group_names(),
        seeds=streams.seed_sequence("learning"),
        cache_dir=cache_dir,
        status=status,
        device_models=sc.device_models(),
        device_preferences=sc.device_preferences(),
        rounds=sc.rounds,
    )


class Simulation:
    """A scenario in progress; `step()` plays one round. Use `fedwireless.sim.run_scenario` for a whole run."""

    def __init__(
        self, sc: Scenario, *, learner: Learner | None = None, cache_dir: Path | None = None, status=None
    ) -> None:
        self.sc = sc
        self.streams = Streams(sc.seed)
        self.world = World.from_scenario(sc, self.streams)
        self.learner = learner if learner is not None else build_learner(sc, self.streams, cache_dir, status)
        self.policy = optimizers.make_policy(sc.policy.name, dict(sc.policy.params), self.streams.get("policy"))
        # The policy's own energy queues where it keeps them (Lyapunov), else the run's, for devices.csv.
        self.energy_queue = self.policy.energy_queue or optimizers.EnergyQueue()
        self._availability_rng = self.streams.get("availability")
        self._packet_rng = self.streams.get("packets")
        fed = sc.federated
        semi = fed.mode == "semi-sync"
        server = {"semi-sync": SemiSyncServer, "async": AsyncServer}.get(fed.mode, SyncServer)
        self.server = server(sc.deadline_s)
        # Asynchronous learning: the server's version, updates under way, the FedBuff buffer.
        self.asyn = AsyncServerState(fed.asynchronous, fed.staleness) if fed.mode == "async" else None
        # Semi-synchronous rounds (and asynchronous steps): the updates still on their way across boundaries.
        self.late = LateUpdates(fed.max_staleness, fed.staleness) if semi else self.asyn
        # Hierarchical rounds: edge aggregations at the base stations, cloud aggregations over the backhaul.
        self.edges = EdgeCloud.from_scenario(sc, self.world.bs_names) if fed.mode == "hierarchical" else None
        ch = sc.channel
        self.link = LinkSettings(
            correlated=ch.coherence == "correlated",
            step_s=ch.coherence_step_s,
            packet_errors=ch.packet_errors.enabled,
            waterfall_m=ch.packet_errors.waterfall_m,
        )
        self.num_samples = np.asarray(self.learner.num_samples(), dtype=float)
        self.planner = Planner(sc, self.world, self.learner, self.num_samples)
        self.ranks = self.planner.ranks
        self.round_index = 0
        self.diverged_round: int | None = None  # first round that diverged (see `step`)
        self.rounds_without_training = 0
        self.sim_time_s = 0.0
        # Per round: bytes the trained clients uploaded, one broadcast's bytes, clients (compression ratio).
        self._cr_rounds: list[tuple[float, float, int]] = []
        self.round_rows: list[dict[str, Any]] = []
        # devices.csv's rows of each round as columns: kept here, or handed to `device_sink` (a run streams them
        # to its file), for every device, a fixed sample of them, or none (`output.device_rows`).
        self.device_sink: Callable[[dict[str, np.ndarray]], None] | None = None
        self.device_blocks: list[dict[str, np.ndarray]] = []
        self.device_row_ids = rows.device_row_selection(sc.output, self.world.num_devices, self.streams.get("output"))
        self.timing_rows: list[dict[str, Any]] = []
        p, w = self.planner, self.world
        warning = untrainable(p.compute_time_s(), p.flops, w.flops_per_s, p.steps, w.group_names, sc.deadline_s)
        if warning:
            log.warning(warning)
        self.metrics = self.learner.evaluate()  # the last evaluation's
        self.round_rows.append(rows.round_row(0, 0.0, 0.0, self.metrics, [], 0, {}, 0))
        if self.late is not None or self.edges is not None:
            names = SEMI_SYNC_ROUND_COLUMNS if semi else HIERARCHICAL_ROUND_COLUMNS
            names = ASYNC_ROUND_COLUMNS if self.asyn is not None else names
            self.round_rows[0].update(dict.fromkeys(names, 0))
        if self.asyn is not None:
            self.round_rows[0].update(staleness_mean=float("nan"), evaluated=1)

    @property
    def finished(self) -> bool:
        """Every round played, or (asynchronous learning) the simulated duration reached."""
        duration = self.sc.federated.asynchronous.duration_s if self.asyn is not None else None
        return self.round_index >= self.sc.rounds or (duration is not None and self.sim_time_s >= duration)

    def step(self) -> dict[str, Any]:
        """Play one round (asynchronous learning: one server step) and return its rounds-table row."""
        sc, w, planner = self.sc, self.world, self.planner
        self.round_index += 1
        t_wall = time.perf_counter()
        w.start_round()
        available, gain, dl_bits, downlink_s, state = self._round_state()
        alloc = self.policy.decide(state)
        t_decide = time.perf_counter()

        selected = np.flatnonzero(alloc.module >= 0)
        if len(selected) == 0 and not (self.late is not None and self.late.carried):  # carried updates still work
            self.rounds_without_training += 1
            why = idle_round(self.round_index, available, state.compute_time_s, downlink_s, planner.flops,
                             w.flops_per_s, planner.steps, w.group_names, sc.deadline_s, sc.policy.name)  # fmt: skip
            log.warning(why)
        plans, updates = self._train(state, alloc, gain, selected, dl_bits, downlink_s)
        by_device = {u.device: u for u in updates}
        t_train = time.perf_counter()

        carried = self.late.carried if self.late is not None else ()
        round_s, plays = run_round(w, plans, self.server, self.link, self._packet_rng, carried)
        t_sim = time.perf_counter()
        round_cr = self._compression_ratio(plans, dl_bits)
        if self.asyn is not None:
            self.asyn.dispatch(self.sim_time_s, plays, alloc)

        closed, mode_columns = self._aggregate(plays, by_device, dl_bits, round_s)
        plays = closed.plays if closed is not None else plays
        round_s += mode_columns.get("backhaul_s", 0.0)
        self.sim_time_s += round_s
        t_agg = time.perf_counter()
        metrics, evaluated = self._evaluate()
        t_eval = time.perf_counter()
        # Diverged: a non-finite evaluation, or a client whose training loss blew up. Weights that overflow can
        # also leave a finite but dead model (a normalisation of inf gives zeros, every logit 0).
        blown = any(u.train_loss > DIVERGED_TRAIN_LOSS or np.isinf(u.train_loss) for u in updates)
        if blown or (evaluated and not (np.isfinite(metrics["loss"]) and np.isfinite(metrics["accuracy"]))):
            self.diverged_round = self.round_index

        queue_before = self._observe(alloc, plays, round_s)
        self._device_rows(alloc, plays, available, gain, queue_before, updates, closed)
        row = rows.round_row(self.round_index, self.sim_time_s, round_s, metrics, plays, len(selected),
                             dict(alloc.terms), dl_bits)  # fmt: skip
        row["compression_ratio"] = round_cr
        row.update(mode_columns)
        if self.asyn is not None:
            row["evaluated"] = int(evaluated)
        self.round_rows.append(row)
        self.timing_rows.append({
            "round": self.round_index, "decide_s": t_decide - t_wall, "train_s": t_train - t_decide,
            "simulate_s": t_sim - t_train, "aggregate_s": t_agg - t_sim, "evaluate_s": t_eval - t_agg,
            "total_s": time.perf_counter() - t_wall,
        })  # fmt: skip
        return row

    def _train(self, state, alloc, gain, selected, dl_bits, downlink_s) -> tuple[list[DevicePlan], list]:
        """Train the selected devices (real bytes, real FLOPs) and plan what each does in simulated time."""
        w, planner = self.world, self.planner
        assignments = [(int(d), int(self.ranks[alloc.module[d]])) for d in selected]
        flops_per_s, compute_power_w = planner.compute_speed(state, alloc)
        budgets = planner.uplink_budget_bits(state, alloc, gain, selected)
        if self.edges is not None:
            self.learner.start_from_edges(w.serving.copy())  # each device trains from its station's model
        updates = self.learner.train_clients(assignments, budgets)
        by_device = {u.device: u for u in updates}
        plans = [
            DevicePlan(device=int(d), cell=int(w.serving[d]), power_w=float(alloc.power_w[d]),
                       bandwidth_hz=float(alloc.bandwidth_hz[d]), downlink_bits=dl_bits,
                       uplink_bits=8 * len(by_device[d].payload), flops=float(by_device[d].flops),
                       flops_per_s=float(flops_per_s[d]), compute_power_w=float(compute_power_w[d]),
                       circuit_power_w=float(w.circuit_power_w[d]), downlink_s=float(downlink_s[d]))
            for d in selected
        ]  # fmt: skip
        return plans, updates

    def _evaluate(self) -> tuple[dict[str, float], bool]:
        """The global model's metrics and whether they were measured now: every round, or in asynchronous learning
        when an evaluation is due (`federated.asynchronous.eval_every`, `eval_every_s`, the last step); else NaN."""
        if self.asyn is not None and not self.asyn.evaluation_due(self.sim_time_s, self.finished):
            return dict.fromkeys(self.metrics, float("nan")), False
        self.metrics = self.learner.evaluate()
        return self.metrics, True

    def _observe(self, alloc, plays, round_s: float) -> np.ndarray:
        """The policy learns the outcome (with the last evaluation's accuracy); the energy queues advance — by
        a round's budget, or an asynchronous step's share of it. Returns the queues as the round found them."""
        w = self.world
        energy = np.zeros(w.num_devices)
        arrived = np.zeros(w.num_devices, dtype=bool)
        for p in plays:
            energy[p.device] += p.energy_j
            arrived[p.device] |= p.arrived
        share = round_s / self.sc.deadline_s if self.asyn is not None else 1.0
        queue_before = self.energy_queue.values_j(w.num_devices)
        self.policy.observe(
            optimizers.RoundOutcome(
                round_index=self.round_index, module=alloc.module.copy(), arrived=arrived, energy_j=energy.copy(),
                accuracy=float(self.metrics["accuracy"]), loss=float(self.metrics["loss"]),
                rank_residual=self.learner.rank_residuals() if self.policy.uses_rank_residual else None,
                budget_share=share,
            )
        )  # fmt: skip
        if self.policy.energy_queue is None:
            self.energy_queue.add(spent_j=energy, budget_j=w.energy_budget_j * share)
        return queue_before

    def _round_state(self):
        """What the policy sees this round: (available, gain, downlink bits, downlink seconds, the RoundState)."""
        w = self.world
        available = self._availability_rng.random(w.num_devices) < w.availability
        if self.late is not None:
            available &= ~self.late.busy(w.num_devices)  # a device whose update is still on its way
        gain = w.gain_lin()
        dl_bits = 8 * len(self.learner.downlink_payload())
        with np.errstate(divide="ignore"):  # no downlink at all: inf, and the policy skips the device
            downlink_s = dl_bits / w.downlink_rate_bps(gain)
        self.planner.next_round()
        state = self.planner.state(self.round_index, available, gain, downlink_s)
        if self.late is not None:
            self.late.follow(w.serving, w.bs_ul_bandwidth_hz)
            state = self.late.free_bandwidth(state)
        return available, gain, dl_bits, downlink_s, state

    def _aggregate(self, plays, by_device, model_bits: int, round_s: float) -> tuple[ClosedRound | None, dict]:
        """Fold the arrived updates into the global model: this round's (synchronous rounds); semi-synchronous,
        every update that arrived, weighted by its staleness (`fedwireless.sim.late`); hierarchical, at the edges
        and every `edge_rounds` at the cloud (`fedwireless.sim.hierarchy`). Returns the semi-synchronous close and
        the mode's round columns. Asynchronous: each arrival as the server applies it (`sim.asynchronous`)."""
        if self.asyn is not None:
            return None, self.asyn.close(self.round_index, self.sim_time_s, plays, by_device, self.learner)
        if self.edges is not None:
            close_s = self.sim_time_s + round_s
            columns = self.edges.aggregate(self.learner, self.round_index, plays, by_device, model_bits, close_s)
            self.world.advance_to(self.world.now_s + columns["backhaul_s"])  # the backhaul takes simulated time
            return None, columns
        if self.late is None:
            self.learner.aggregate([by_device[p.device] for p in plays if p.arrived])
            return None, {}
        closed = self.late.close(self.round_index, plays, by_device)
        self.learner.aggregate(closed.arrived, closed.weights)
        return closed, closed.round_columns()

    def _device_rows(self, alloc, plays, available, gain, queue_before, updates, closed=None) -> None:
        """The round's devices.csv rows, to the sink or kept (none with `output.device_rows: none`); asynchronous
        learning: a row per dispatch that ended."""
        if self.asyn is not None:
            return self._dispatch_rows()
        if self.device_row_ids is None or len(self.device_row_ids):
            info = {u.device: u.info for u in updates}
            evals = self.learner.device_metrics()
            extra = None
            if closed is not None:
                alloc, extra = closed.rows_allocation(alloc, self.ranks), closed.device_columns(self.world.num_devices)
            block = rows.device_block(self.round_index, self.world, self.ranks, alloc, plays, available, gain,
                                      queue_before, info, evals, self.device_row_ids, extra)  # fmt: skip
            (self.device_sink or self.device_blocks.append)(block)

    def _dispatch_rows(self) -> None:
        ended = self.asyn.take_ended()
        if self.device_row_ids is not None:
            keep = set(self.device_row_ids.tolist())
            ended = [r for r in ended if r.device in keep]
        if ended:
            w = self.world
            block = dispatch_block(ended, w.group_names, w.bs_names, w.serving, w.energy_budget_j)
            (self.device_sink or self.device_blocks.append)(block)

    def finish(self) -> None:
        """The run ends: asynchronous dispatches still under way, or arrived but buffered, get their rows."""
        if self.asyn is not None:
            self.asyn.finish(self.round_index)
            self._dispatch_rows()

    @property
    def device_rows(self) -> list[dict[str, Any]]:
        """The kept devices.csv rows as dicts (none once they stream to a file)."""
        return [row for block in self.device_blocks for row in rows.block_rows(block)]

    def _compression_ratio(self, plans: list[DevicePlan], dl_bits: int) -> float:
        """The paper's compression ratio of this round: every trained client's full upload, one broadcast each."""
        if not plans:
            return float("nan")
        self._cr_rounds.append((sum(p.uplink_bits for p in plans) / 8, dl_bits / 8, len(plans)))
        params = self.learner.compression_params()
        return paper_compression_ratio(*self._cr_rounds[-1], params) if params > 0 else float("nan")

    def summary(self, wall_time_s: float) -> dict[str, Any]:
        last = self.round_rows[-1]
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
            **rows.totals(self.round_rows),
            "rounds_without_training": self.rounds_without_training,
            "wall_time_s": wall_time_s,
            # True when evaluation gave a non-finite loss: the run stopped there (try a smaller task.lr).
            "diverged": self.diverged_round is not None,
        }
        if self.diverged_round is not None:
            out["diverged_at_round"] = self.diverged_round
        if self.asyn is not None:  # rounds counts server steps; these, the model's versions
            out["server_updates"] = self.asyn.version
        out.update(rows.device_accuracy_summary(self.learner.device_metrics()))
        out.update({f"final_{x}": last[x] for x in rows.FINAL_EXTRAS if x in last})
        params = self.learner.compression_params()
        if params > 0 and self._cr_rounds:
            # (Σ client bytes + K · broadcast bytes) / (2K · 4 bytes · P), summed over rounds (arXiv 2504.01947).
            client_b, broadcast_b, clients = zip(*self._cr_rounds)
            out["compression_ratio"] = paper_compression_ratio_rounds(client_b, broadcast_b, clients, params)
        out.update(self.learner.info())
        out.setdefault("learning", "real")
        out["fedwireless_version"] = __version__
        out["git_commit"] = git_commit()
        return out
