"""Asynchronous federated learning: no rounds; the server applies each update as it arrives.

The run is a sequence of server steps. A step starts with a dispatch: the policy picks, among idle available
devices, at most as many as there are free slots (`concurrency` less the updates under way), each of which
downloads the current global model, trains and uploads. The step ends at the first update that arrives or fails
(or after `deadline_s` without one, so the server can dispatch again); the updates still under way stop for the
step and go on in the next from where they were, as semi-synchronous carries do (`fedwireless.sim.late`). An update
that trained from server model version b and is applied at version v has staleness τ = v − b and weight s(τ):

- FedAsync (Xie et al. 2019): x ← (1 − α·s(τ))·x + α·s(τ)·x_k at each arrival, one server update each;
- FedBuff (Nguyen et al. 2022): arrivals wait in a buffer; every K of them x ← x + η·(1/K)·Σ s(τ_k)·Δ_k.

An update already more than `max_staleness` versions behind at a step's close is dropped (reason `stale`). A
dispatch's row in the devices table is written when it ends (applied, buffered or dropped), or at the end of the
run (`unfinished`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

import optimizers
from fedwireless.contracts import ClientUpdate, Learner
from fedwireless.learning.federated_config import AsyncConfig, StalenessConfig
from fedwireless.outputs.columns import ASYNC_ROUND_COLUMNS
from fedwireless.sim.engine import DeviceOutcome
from fedwireless.sim.late import LateUpdates, staleness_weight


@dataclasses.dataclass
class Dispatch:
    """One update from dispatch to its end: what the devices table says of it."""

    index: int
    device: int
    rank: int
    base_version: int
    dispatch_s: float
    power_w: float
    bandwidth_hz: float
    cpu_hz: float
    payload_bits: int
    flops: float
    downlink_s: float
    compute_s: float
    upload_s: float = 0.0
    bits_sent: float = 0.0
    compute_energy_j: float = 0.0
    tx_energy_j: float = 0.0
    arrival_s: float = math.nan
    arrived: bool = False
    applied: bool = False
    staleness: int = -1
    weight: float = math.nan
    drop_reason: str = ""
    end_step: int = -1


class AsyncServerState(LateUpdates):
    """The asynchronous server: model version, updates under way (as carries), the FedBuff buffer, evaluation due."""

    def __init__(self, cfg: AsyncConfig, staleness: StalenessConfig) -> None:
        super().__init__(cfg.max_staleness, staleness)
        self.cfg = cfg
        self.version = 0
        self.under_way: dict[int, Dispatch] = {}  # by device
        self.buffer: list[tuple[ClientUpdate, float, Dispatch]] = []  # FedBuff: arrived, waiting for K
        self.ended: list[Dispatch] = []  # ended since the devices table last took them
        self._count = 0
        self._next_eval_version = cfg.eval_every or math.inf
        self._next_eval_s = cfg.eval_every_s or math.inf

    def free_slots(self) -> int:
        return max(self.cfg.concurrency - len(self.pending), 0)

    def free_bandwidth(self, state: optimizers.RoundState) -> optimizers.RoundState:
        """Each cell's pool less the bands the updates under way hold, but at least the free slots' share of it
        (a band planned beyond what is free waits in the cell's pool in simulated time); at most the free slots."""
        held = self.held_bandwidth(len(state.cell_bandwidth_hz))
        share = state.cell_bandwidth_hz * self.free_slots() / self.cfg.concurrency
        pool = np.maximum(state.cell_bandwidth_hz - held, share)
        available = state.available if self.free_slots() else np.zeros_like(state.available)
        return dataclasses.replace(state, cell_bandwidth_hz=pool, max_clients=self.free_slots(), available=available)

    def dispatch(self, t_s: float, plays: Sequence[DeviceOutcome], alloc: optimizers.Allocation) -> None:
        """Record the step's new dispatches (the plays not carried in), each from the current version."""
        for p in plays:
            if p.carried:
                continue
            plan = p.plan
            cpu = float(alloc.cpu_hz[p.device]) if alloc.cpu_hz is not None else 0.0
            self.under_way[p.device] = Dispatch(
                index=self._count, device=p.device, rank=0, base_version=self.version, dispatch_s=t_s,
                power_w=plan.power_w, bandwidth_hz=plan.bandwidth_hz, cpu_hz=cpu, payload_bits=plan.uplink_bits,
                flops=plan.flops, downlink_s=plan.downlink_s, compute_s=p.compute_s,
            )  # fmt: skip
            self._count += 1

    def close(self, step: int, t_s: float, plays: list[DeviceOutcome], fresh: dict[int, ClientUpdate],
              learner: Learner) -> dict[str, float]:  # fmt: skip
        """After step `step` (started at `t_s`) played `plays`: apply what arrived (in arrival order), drop what is
        too stale, keep what is under way. Returns the step's rounds-table columns."""
        before, self.carried, self.pending = self.pending, [], {}
        applied: list[Dispatch] = []
        dropped_stale = 0
        order = sorted(range(len(plays)), key=lambda i: (plays[i].arrival_s if plays[i].arrived else math.inf, i))
        for p in (plays[i] for i in order):
            update = before[p.device][0] if p.device in before else fresh[p.device]
            rec = self.under_way.pop(p.device)
            rec.rank = update.rank
            rec.upload_s += p.upload_s
            rec.bits_sent += p.bits_sent
            rec.compute_energy_j += p.compute_energy_j
            rec.tx_energy_j += p.tx_energy_j
            if p.arrived:
                rec.arrived, rec.arrival_s = True, t_s + p.arrival_s
                applied += self._arrive(update, rec, learner, step)
                dropped_stale += rec.drop_reason == "stale"
            elif p.late and self.version - rec.base_version > self.max_staleness:
                dropped_stale += 1
                self._end(rec, step, "stale")
            elif p.late:
                self.pending[p.device] = (update, rec.base_version)
                self.under_way[p.device] = rec
                self.carried.append(p.left)
            else:
                self._end(rec, step, p.drop_reason)
        # Updates on air take their bands back first in the next step, before ones still waiting for a band.
        self.carried.sort(key=lambda c: not (c.downlink_s == 0 and c.compute_s == 0 and c.bits < c.plan.uplink_bits))
        tau = [r.staleness for r in applied]
        counts = (self.version, len(applied), float(np.mean(tau)) if tau else math.nan, len(self.pending),
                  len(self.buffer), dropped_stale)  # fmt: skip
        return dict(zip(ASYNC_ROUND_COLUMNS, counts))

    def _arrive(self, update: ClientUpdate, rec: Dispatch, learner: Learner, step: int) -> list[Dispatch]:
        """An arrival, applied now (FedAsync) or buffered (FedBuff: applied with its buffer). Returns the updates
        applied into the model."""
        rec.staleness = self.version - rec.base_version
        if rec.staleness > self.max_staleness:  # behind an update that arrived at the same instant, first
            self._end(rec, step, "stale")
            return []
        s = float(staleness_weight(rec.staleness, self.staleness))
        if self.cfg.algorithm == "fedasync":
            rec.weight = self.cfg.alpha * s
            learner.aggregate([update], [rec.weight])
            self.version += 1
            self._end(rec, step, "", applied=True)
            return [rec]
        rec.weight = self.cfg.server_lr * s / self.cfg.buffer_size
        self.buffer.append((update, s, rec))
        if len(self.buffer) < self.cfg.buffer_size:
            return []
        buffered, self.buffer = self.buffer, []
        learner.aggregate_buffer([u for u, _, _ in buffered], [w for _, w, _ in buffered], self.cfg.server_lr)
        self.version += 1
        for _, _, r in buffered:
            self._end(r, step, "", applied=True)
        return [r for _, _, r in buffered]

    def _end(self, rec: Dispatch, step: int, reason: str, applied: bool = False) -> None:
        rec.end_step, rec.drop_reason, rec.applied = step, reason, applied
        self.ended.append(rec)

    def finish(self, step: int) -> None:
        """The run ends: updates still under way end `unfinished`, arrivals still in the buffer `buffered`."""
        for rec in self.under_way.values():
            self._end(rec, step, "unfinished")
        for _, _, rec in self.buffer:
            self._end(rec, step, "buffered")
        self.under_way, self.buffer, self.pending, self.carried = {}, [], {}, []

    def take_ended(self) -> list[Dispatch]:
        out, self.ended = sorted(self.ended, key=lambda r: r.index), []
        return out

    def evaluation_due(self, sim_time_s: float, last: bool) -> bool:
        """Evaluate now: every `eval_every` server updates, every `eval_every_s` simulated seconds, and at the end."""
        due = last or self.version >= self._next_eval_version or sim_time_s >= self._next_eval_s
        if due:
            while self._next_eval_version <= self.version:
                self._next_eval_version += self.cfg.eval_every or math.inf
            while self._next_eval_s <= sim_time_s:
                self._next_eval_s += self.cfg.eval_every_s or math.inf
        return due


def dispatch_block(records: Sequence[Dispatch], group_names: Sequence[str], bs_names: Sequence[str],
                   serving: np.ndarray, budget_j: np.ndarray) -> dict[str, np.ndarray]:  # fmt: skip
    """The devices table's rows of ended dispatches, as columns (`ASYNC_DEVICE_KINDS`); `base_station` is the
    device's serving station when the dispatch ended, `energy_budget_j` its budget per `deadline_s`."""
    dev = np.array([r.device for r in records], dtype=np.int64)

    def col(name: str, dtype=float) -> np.ndarray:
        return np.array([vars(r)[name] for r in records], dtype=dtype)

    energy = col("compute_energy_j") + col("tx_energy_j")
    budget = np.where(np.isfinite(budget_j), budget_j, np.nan)[dev] if len(dev) else np.zeros(0)
    return {
        "round": col("end_step", np.int64), "dispatch": col("index", np.int64), "device": dev,
        "group": np.asarray(group_names, dtype=object)[dev] if len(dev) else np.zeros(0, dtype=object),
        "base_station": np.asarray(bs_names, dtype=object)[serving[dev]] if len(dev) else np.zeros(0, dtype=object),
        "rank": col("rank", np.int64), "base_version": col("base_version", np.int64),
        "staleness": col("staleness", np.int64), "weight": col("weight"), "dispatch_s": col("dispatch_s"),
        "arrival_s": col("arrival_s"), "power_w": col("power_w"), "bandwidth_hz": col("bandwidth_hz"),
        "cpu_hz": col("cpu_hz"), "payload_bits": col("payload_bits", np.int64),
        "uplink_bits": np.round(col("bits_sent")).astype(np.int64), "flops": col("flops"),
        "downlink_s": col("downlink_s"), "compute_s": col("compute_s"), "upload_s": col("upload_s"),
        "compute_energy_j": col("compute_energy_j"), "tx_energy_j": col("tx_energy_j"), "energy_j": energy,
        "energy_budget_j": budget, "arrived": col("arrived", bool), "applied": col("applied", bool),
        "drop_reason": col("drop_reason", object),
    }  # fmt: skip
