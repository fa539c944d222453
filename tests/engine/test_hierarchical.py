"""Hierarchical rounds (`federated.mode: hierarchical`, HierFAVG) on the hand-computable scenario of `test_trace`:
edge rounds end at the last arrival, a cloud round adds the backhaul's latency + bits / capacity each way, and
devices train from their station's edge model, which the cloud averages by the samples each station aggregated."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from fedwireless.learning import aggregate as agg
from fedwireless.outputs.layout import read_table
from fedwireless.scenario import validate
from fedwireless.sim.loop import Simulation
from fedwireless.sim.run import run_scenario

from .test_trace import TIME_TOL_S, scenario


def hierarchical(rounds: int, edge_rounds: int = 2, **backhaul) -> dict:
    sc = scenario(rounds=rounds)
    sc["federated"].update(mode="hierarchical", hierarchical={"edge_rounds": edge_rounds, "backhaul": backhaul})
    return sc


def two_stations(sc: dict, slow: dict) -> dict:
    """A second station beside the far device (so each device has its own edge), with its own `slow` backhaul."""
    second = {**sc["base_stations"][0], "position_m": [0.0, 400.0], "backhaul": slow}
    sc["base_stations"].append(second)
    return sc


def test_cloud_rounds_add_the_backhaul_and_move_the_model(tmp_path):
    out = tmp_path / "h"
    run_scenario(validate(hierarchical(rounds=4, capacity_mbps=10.0, latency_ms=20.0)), out)
    rounds = pd.read_csv(out / "rounds.csv").set_index("round")
    dev = pd.read_csv(out / "devices.csv")
    bits = rounds.downlink_bits[1] / 2  # the model's encoded size: one broadcast to each of the two devices
    last = dev.groupby("round").arrival_s.max()
    backhaul = 2 * (0.020 + bits / 10e6)  # edge model up, global model down, one link
    assert rounds.backhaul_s.tolist() == pytest.approx([0.0, 0.0, backhaul, 0.0, backhaul], abs=TIME_TOL_S)
    assert rounds.round_s[1:].to_numpy() == pytest.approx(last.to_numpy() + rounds.backhaul_s[1:].to_numpy(),
                                                          abs=TIME_TOL_S)  # fmt: skip
    assert rounds.cloud_aggregation.tolist() == [0, 0, 1, 0, 1] and rounds.edge_aggregations[1:].tolist() == [1] * 4
    # The surrogate: edge rounds leave the global accuracy alone; the cloud applies both rounds' progress at once
    # (both devices arrive, equal shares, r/(r + 8) = 1/3 per round).
    a2 = 0.5 + 0.15 * (2 / 3) * (0.9 - 0.5)
    assert rounds.accuracy.tolist() == pytest.approx([0.5, 0.5, a2, a2, a2 + 0.15 * (2 / 3) * (0.9 - a2)], rel=1e-12)


def test_the_slowest_backhaul_link_sets_the_cloud_rounds_pace(tmp_path):
    out = tmp_path / "two"
    sc = two_stations(hierarchical(rounds=2, capacity_mbps=100.0, latency_ms=1.0), {"capacity_mbps": 1.0,
                                                                                    "latency_ms": 50.0})  # fmt: skip
    run_scenario(validate(sc), out)
    rounds = pd.read_csv(out / "rounds.csv").set_index("round")
    dev = pd.read_csv(out / "devices.csv").set_index(["round", "device"])
    assert dev.base_station[(1, 0)] != dev.base_station[(1, 1)]
    bits = rounds.downlink_bits[1] / 2
    assert rounds.edge_aggregations[1] == 2
    assert rounds.backhaul_s[2] == pytest.approx(2 * (0.050 + bits / 1e6), abs=TIME_TOL_S)
    # The aggregations table: each station's edge aggregation at the round's close, the cloud's once the slow
    # station's model is up, the broadcast once it is back down; the samples are the stations' sums.
    events = read_table(out / "aggregations.csv")
    close = [rounds.sim_time_s[1], rounds.sim_time_s[2] - rounds.backhaul_s[2]]
    slow_s = 0.050 + bits / 1e6
    edges = events[events.level == "edge"]
    assert edges["round"].tolist() == [1, 1, 2, 2] and edges.station.tolist() == ["bs0", "bs1"] * 2
    assert edges.sim_time_s.tolist() == pytest.approx([close[0]] * 2 + [close[1]] * 2, abs=TIME_TOL_S)
    assert edges["count"].tolist() == [1, 1, 1, 1]
    cloud = events[events.level == "cloud"].iloc[0]
    assert (cloud["round"], cloud["count"]) == (2, 2)
    assert cloud.sim_time_s == pytest.approx(close[1] + slow_s, abs=TIME_TOL_S)
    assert cloud.samples == edges.samples.sum()
    broadcast = events[events.level == "broadcast"].iloc[0]
    assert broadcast.sim_time_s == pytest.approx(rounds.sim_time_s[2], abs=TIME_TOL_S) and broadcast["count"] == 2


def test_real_lora_devices_train_from_their_edge_and_the_cloud_averages_the_edges(tmp_path):
    """Real LoRA at the default model size, two stations: round 1's updates become each station's edge model
    (the global is untouched: same evaluation), round 2's clients start from their own station's edge model, and
    the cloud's model is the edge models' mean weighted by the samples each aggregated."""
    sc = two_stations(hierarchical(rounds=2), {"capacity_mbps": 50.0, "latency_ms": 10.0})
    sc.pop("surrogate")
    sc["output"]["dir"] = str(tmp_path / "unused")
    sim = Simulation(validate(sc))
    method = sim.learner.method
    starts, before_cloud = {}, {}
    start = method.start_state  # what client_start (one by one) and batch_start (batched) both return

    def recording_start(device, rank, round_index):
        out = start(device, rank, round_index)
        starts[(round_index, device)] = {k: v.clone() for k, v in out.items()}
        return out

    cloud = method.aggregate_at_cloud

    def recording_cloud():
        before_cloud.update(
            states={s: dict(v) for s, v in method.edge_states.items()}, samples=dict(method.edge_samples)
        )
        cloud()

    method.start_state, method.aggregate_at_cloud = recording_start, recording_cloud
    first = sim.step()
    assert (first["accuracy"], first["loss"]) == (sim.round_rows[0]["accuracy"], sim.round_rows[0]["loss"])
    edges_after_1 = {s: {k: v.clone() for k, v in st.items()} for s, st in method.edge_states.items()}
    assert sorted(edges_after_1) == [0, 1]
    sim.step()
    station = sim.world.serving
    for d in (0, 1):
        for key, value in starts[(2, d)].items():
            assert torch.equal(value, edges_after_1[int(station[d])][key]), (d, key)
    # Both devices arrived in both rounds, each alone at its station: a station aggregated twice its device's rows.
    assert all(r["arrived"] == 2 for r in sim.round_rows[1:])
    rows = sim.learner.num_samples()
    samples = {int(station[d]): 2.0 * rows[d] for d in (0, 1)}
    assert before_cloud["samples"] == samples
    states = before_cloud["states"]
    expected = agg.fedavg([states[0], states[1]], [samples[0], samples[1]], method.r_max)
    for key, value in method.global_state.items():
        assert torch.allclose(value, expected[key], rtol=0, atol=0), key
    assert method.edge_states == {} and sim.round_rows[2]["loss"] != sim.round_rows[1]["loss"]


def test_hierarchical_needs_a_method_with_edge_models():
    from fedwireless.scenario import ScenarioError

    sc = hierarchical(rounds=1)
    sc.pop("surrogate")
    sc["federated"]["aggregation"] = "hetlora"
    with pytest.raises(ScenarioError, match=r"federated\.mode: hierarchical keeps a model per base station"):
        validate(sc)
