"""Hierarchical rounds (HierFAVG, Liu et al., ICC 2020): base stations are edge servers.

Each round is an edge round: a device trains from its serving station's edge model (κ₁ = task.local_steps local
steps) and uploads to that station, and every station that received updates averages them into its edge model.
Every `edge_rounds`-th round (κ₂) ends with a cloud aggregation: the stations that aggregated since the last one
send their edge models up their backhaul links, the cloud averages them (weighted by the samples each aggregated)
and sends the global model back down to every station. The backhaul adds simulated time, latency + bits /
capacity each way (uploads in parallel, then the broadcast in parallel: the slowest link of each sets the pace);
it costs the devices no energy. A device that hands over to another station starts its next round from the new
station's model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fedwireless.contracts import ClientUpdate, Learner
from fedwireless.outputs.columns import HIERARCHICAL_ROUND_COLUMNS
from fedwireless.sim.engine import DeviceOutcome


class EdgeCloud:
    """The stations' and the cloud's aggregation schedule and the backhaul's simulated time."""

    def __init__(self, edge_rounds: int, capacity_bps: Sequence[float], latency_s: Sequence[float]) -> None:
        self.edge_rounds = int(edge_rounds)
        self.capacity_bps = np.asarray(capacity_bps, dtype=float)
        self.latency_s = np.asarray(latency_s, dtype=float)
        self.sent: set[int] = set()  # stations that aggregated since the last cloud round

    @classmethod
    def from_scenario(cls, sc) -> EdgeCloud:
        default = sc.federated.hierarchical.backhaul
        links = [b.backhaul or default for b in sc.base_stations]
        return cls(
            sc.federated.hierarchical.edge_rounds,
            [link.capacity_mbps * 1e6 for link in links],
            [link.latency_ms * 1e-3 for link in links],
        )

    def backhaul_s(self, stations: Sequence[int], model_bits: float) -> float:
        """Seconds of a cloud aggregation: `stations` send their edge models up (none: no upload), then every
        station receives the global model; each way, latency + bits / capacity on the slowest link."""
        one_way = self.latency_s + model_bits / self.capacity_bps
        up = max((float(one_way[s]) for s in stations), default=0.0)
        return up + float(one_way.max(initial=0.0))

    def aggregate(
        self, learner: Learner, round_index: int, plays: Sequence[DeviceOutcome], by_device: dict[int, ClientUpdate],
        model_bits: float,
    ) -> dict[str, float]:  # fmt: skip
        """Edge aggregation of the arrived updates at the stations they were sent to, then, every `edge_rounds`
        rounds, the cloud aggregation. Returns the round's counts and the backhaul seconds."""
        groups: dict[int, list[ClientUpdate]] = {}
        for p in plays:
            if p.arrived:
                groups.setdefault(p.plan.cell, []).append(by_device[p.device])
        learner.aggregate_at_edges(groups)
        self.sent |= set(groups)
        cloud = round_index % self.edge_rounds == 0
        backhaul = 0.0
        if cloud:
            backhaul = self.backhaul_s(sorted(self.sent), model_bits)
            learner.aggregate_at_cloud()
            self.sent = set()
        return dict(zip(HIERARCHICAL_ROUND_COLUMNS, (len(groups), int(cloud), backhaul)))
