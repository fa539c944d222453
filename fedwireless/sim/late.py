"""Semi-synchronous rounds: the updates still on their way when a round closes, and what they weigh on arrival.

A round closes at its deadline as a synchronous one does, but an update still downloading, training or uploading
then is not dropped: it goes on in the next round from where it stopped (holding its band, so the policy plans
the others over what is left of each cell), and joins the first aggregation after it arrives, weighted by
s(τ) for τ, the rounds between the one whose global model it trained from and the one it joins (FedAsync's staleness
functions, Xie et al. 2019). An update that could only join more than `max_staleness` rounds after the round it
trained in is dropped at the close (reason `stale`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

import optimizers
from fedwireless.contracts import ClientUpdate
from fedwireless.learning.federated_config import StalenessConfig
from fedwireless.outputs.columns import SEMI_SYNC_ROUND_COLUMNS
from fedwireless.sim.engine import Carry, DeviceOutcome


def staleness_weight(tau: np.ndarray | Sequence[float], cfg: StalenessConfig) -> np.ndarray:
    """s(τ): polynomial (1 + τ)^(−a), hinge 1 for τ ≤ b then 1 / (a·(τ − b) + 1), or constant 1 (Xie et al. 2019)."""
    t = np.asarray(tau, dtype=float)
    if cfg.function == "polynomial":
        return (1.0 + t) ** (-cfg.a)
    if cfg.function == "hinge":
        return np.where(t <= cfg.b, 1.0, 1.0 / (cfg.a * (t - cfg.b) + 1.0))
    return np.ones_like(t)


class LateUpdates:
    """Updates under way across round boundaries, by device: each with the round it trained in."""

    def __init__(self, max_staleness: int, staleness: StalenessConfig) -> None:
        self.max_staleness = int(max_staleness)
        self.staleness = staleness
        self.carried: list[Carry] = []
        self.pending: dict[int, tuple[ClientUpdate, int]] = {}

    def busy(self, num_devices: int) -> np.ndarray:
        """[devices] True for a device whose update is still on its way (it cannot start another)."""
        out = np.zeros(num_devices, dtype=bool)
        out[list(self.pending)] = True
        return out

    def follow(self, serving: np.ndarray, cell_bandwidth_hz: np.ndarray) -> None:
        """Each carried update goes on in its device's serving cell this round, with its planned band, at most the
        new cell's whole pool (a larger request would never be served and would block the cell)."""
        out = []
        for c in self.carried:
            cell = int(serving[c.plan.device])
            if cell != c.plan.cell:
                band = min(c.plan.bandwidth_hz, float(cell_bandwidth_hz[cell]))
                c = dataclasses.replace(c, plan=dataclasses.replace(c.plan, cell=cell, bandwidth_hz=band))
            out.append(c)
        self.carried = out

    def free_bandwidth(self, state: optimizers.RoundState) -> optimizers.RoundState:
        """The round's state with each cell's pool less the bands the carried updates hold (or will take back)."""
        held = self.held_bandwidth(len(state.cell_bandwidth_hz))
        if not held.any():
            return state
        return dataclasses.replace(state, cell_bandwidth_hz=np.maximum(state.cell_bandwidth_hz - held, 0.0))

    def held_bandwidth(self, num_cells: int) -> np.ndarray:
        """[cells] the bands the carried updates hold, or will take back, in each cell."""
        held = np.zeros(num_cells)
        for c in self.carried:
            held[c.plan.cell] += c.plan.bandwidth_hz
        return held

    def close(self, round_index: int, plays: list[DeviceOutcome], fresh: dict[int, ClientUpdate]) -> ClosedRound:
        """After round `round_index` played `plays` (the carried updates first, then the `fresh` ones): late ones
        too old to wait are marked `stale`, arrivals get their staleness weights, what is still on its way is kept."""
        before, self.carried, self.pending = self.pending, [], {}
        out = ClosedRound(plays=[])
        for p in plays:
            d = p.device
            update, base = before[d] if d in before else (fresh[d], round_index)
            tau = round_index - base
            if p.arrived:
                out.arrived.append(update)
                out.weights.append(float(staleness_weight(tau, self.staleness)))
            elif p.late and round_index + 1 - base > self.max_staleness:
                p = dataclasses.replace(p, left=None, drop_reason="stale")
            elif p.late:
                self.pending[d] = (update, base)
                self.carried.append(p.left)
            out.base[d], out.tau[d] = base, (tau if p.arrived else -1)
            if d in before:
                out.carried_in[d] = update.rank
            out.plays.append(p)
        return out


@dataclasses.dataclass
class ClosedRound:
    """What a semi-synchronous round's close decided."""

    plays: list[DeviceOutcome]  # as played, late ones too old to wait marked `stale`
    arrived: list[ClientUpdate] = dataclasses.field(default_factory=list)  # to aggregate, in play order
    weights: list[float] = dataclasses.field(default_factory=list)  # their staleness weights s(τ)
    base: dict[int, int] = dataclasses.field(default_factory=dict)  # per played device: the round it trained in
    tau: dict[int, int] = dataclasses.field(default_factory=dict)  # per played device: τ when applied, else −1
    carried_in: dict[int, int] = dataclasses.field(default_factory=dict)  # devices carried in: their update's rank

    def rows_allocation(self, alloc: optimizers.Allocation, ranks: Sequence[int]) -> optimizers.Allocation:
        """The allocation the devices table shows: a device carrying an update in from an earlier round with its plan's
        module, power and band (the policy did not plan it this round)."""
        if not self.carried_in:
            return alloc
        module, power, band = alloc.module.copy(), alloc.power_w.copy(), alloc.bandwidth_hz.copy()
        for p in self.plays:
            if p.device in self.carried_in:
                d = p.device
                module[d] = list(ranks).index(self.carried_in[d])
                power[d], band[d] = p.plan.power_w, p.plan.bandwidth_hz
        return dataclasses.replace(alloc, module=module, power_w=power, bandwidth_hz=band)

    def device_columns(self, num_devices: int) -> dict[str, np.ndarray]:
        """The devices table's semi-synchronous columns: `base_round` (the round whose global model the update trained
        from; −1: none), `staleness` (τ of an applied update; −1: none) and `late` (still on its way at the close)."""
        base, tau = np.full(num_devices, -1, dtype=np.int64), np.full(num_devices, -1, dtype=np.int64)
        late = np.zeros(num_devices, dtype=bool)
        for d in self.base:
            base[d], tau[d] = self.base[d], self.tau[d]
        for p in self.plays:
            late[p.device] = p.late
        return {"base_round": base, "staleness": tau, "late": late}

    def round_columns(self) -> dict[str, int]:
        """The rounds table's semi-synchronous counts: updates carried over (`late`), applied late, dropped as stale."""
        counts = (
            sum(p.late for p in self.plays),
            sum(1 for t in self.tau.values() if t > 0),
            sum(p.drop_reason == "stale" for p in self.plays),
        )
        return dict(zip(SEMI_SYNC_ROUND_COLUMNS, counts))
