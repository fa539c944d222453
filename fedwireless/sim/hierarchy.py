"""Hierarchical rounds (HierFAVG, Liu et al., ICC 2020): base stations are edge servers.

Each round is an edge round: a device trains from its serving station's edge model (κ₁ = task.local_steps local
steps) and uploads to that station, and every station that received updates averages them into its edge model.
Every `edge_rounds`-th round (κ₂) ends with a cloud aggregation: the stations that aggregated since the last one
send their edge models up their backhaul links, the cloud averages them (weighted by the samples each aggregated)
and sends the global model back down to every station. The backhaul adds simulated time, latency + bits /
capacity each way (uploads in parallel, then the broadcast in parallel: the slowest link of each sets the pace);
it costs the devices no energy. A device that hands over to another station starts its next round from the new
station's model. Every aggregation is an event of the run's aggregations table: `edge` (a station averaged the
updates it received, at the round's close), `cloud` (the cloud averaged the edge models, once the slowest is up) and
`broadcast` (every station holds the global model).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fedwireless.contracts import ClientUpdate, Learner
from fedwireless.outputs.columns import AGGREGATION_COLUMNS, HIERARCHICAL_ROUND_COLUMNS
from fedwireless.sim.engine import DeviceOutcome


class EdgeCloud:
    """The stations' and the cloud's aggregation schedule and the backhaul's simulated time."""

    def __init__(self, edge_rounds: int, capacity_bps: Sequence[float], latency_s: Sequence[float],
                 station_names: Sequence[str] | None = None) -> None:  # fmt: skip
        self.edge_rounds = int(edge_rounds)
        self.capacity_bps = np.asarray(capacity_bps, dtype=float)
        self.latency_s = np.asarray(latency_s, dtype=float)
        self.names = list(station_names) if station_names is not None else [str(i) for i in range(len(latency_s))]
        self.sent: dict[int, float] = {}  # stations that aggregated since the last cloud round: their samples
        self.events: list[dict] = []  # the aggregations table's rows (AGGREGATION_COLUMNS)

    @classmethod
    def from_scenario(cls, sc, station_names: Sequence[str] | None = None) -> EdgeCloud:
        default = sc.federated.hierarchical.backhaul
        links = [b.backhaul or default for b in sc.base_stations]
        return cls(
            sc.federated.hierarchical.edge_rounds,
            [link.capacity_mbps * 1e6 for link in links],
            [link.latency_ms * 1e-3 for link in links],
            station_names,
        )

    def backhaul_s(self, stations: Sequence[int], model_bits: float) -> float:
        """Seconds of a cloud aggregation: `stations` send their edge models up (none: no upload), then every
        station receives the global model; each way, latency + bits / capacity on the slowest link."""
        return sum(self._legs_s(stations, model_bits))

    def _legs_s(self, stations: Sequence[int], model_bits: float) -> tuple[float, float]:
        """(up, down): the slowest edge model's way up, the slowest station's way down."""
        one_way = self.latency_s + model_bits / self.capacity_bps
        up = max((float(one_way[s]) for s in stations), default=0.0)
        return up, float(one_way.max(initial=0.0))

    def aggregate(
        self, learner: Learner, round_index: int, plays: Sequence[DeviceOutcome], by_device: dict[int, ClientUpdate],
        model_bits: float, close_s: float = 0.0,
    ) -> dict[str, float]:  # fmt: skip
        """Edge aggregation of the arrived updates at the stations they were sent to, then, every `edge_rounds`
        rounds, the cloud aggregation; `close_s` is the simulated clock at the round's close (for the events).
        Returns the round's counts and the backhaul seconds."""
        groups: dict[int, list[ClientUpdate]] = {}
        for p in plays:
            if p.arrived:
                groups.setdefault(p.plan.cell, []).append(by_device[p.device])
        learner.aggregate_at_edges(groups)
        for s in sorted(groups):
            samples = float(sum(u.num_samples for u in groups[s]))
            self.sent[s] = self.sent.get(s, 0.0) + samples
            self._event(round_index, "edge", self.names[s], close_s, len(groups[s]), samples)
        cloud = round_index % self.edge_rounds == 0
        backhaul = 0.0
        if cloud:
            up, down = self._legs_s(sorted(self.sent), model_bits)
            backhaul = up + down
            learner.aggregate_at_cloud()
            self._event(round_index, "cloud", "", close_s + up, len(self.sent), sum(self.sent.values()))
            self._event(round_index, "broadcast", "", close_s + backhaul, len(self.names), 0.0)
            self.sent = {}
        return dict(zip(HIERARCHICAL_ROUND_COLUMNS, (len(groups), int(cloud), backhaul)))

    def _event(self, round_index: int, level: str, station: str, at_s: float, count: int, samples: float) -> None:
        self.events.append(dict(zip(AGGREGATION_COLUMNS, (round_index, level, station, at_s, count, samples))))
