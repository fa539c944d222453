"""Semi-synchronous rounds (`federated.mode: semi-sync`) on the hand-computable scenario of `test_trace`: a late
upload goes on in the next round from the bit it had reached, joins that round's aggregation with its staleness
weight, and one that cannot arrive within `max_staleness` rounds is dropped; every instant from the formulas."""

from __future__ import annotations

import math
from dataclasses import replace as dataclasses_replace

import numpy as np
import pandas as pd
import pytest
import torch

from fedwireless.learning.aggregate import mix_late
from fedwireless.learning.federated_config import StalenessConfig
from fedwireless.scenario import ScenarioError, validate
from fedwireless.sim.late import staleness_weight
from fedwireless.sim.run import run_scenario

from .test_trace import BANDWIDTH_HZ, CIRCUIT_W, NF_BS_DB, POSITIONS_M, POWER_W, TIME_TOL_S, rate_bps, scenario


def semi_sync(deadline_s: float, rounds: int, **federated) -> dict:
    sc = scenario(deadline_s=deadline_s, rounds=rounds)
    sc["federated"].update(mode="semi-sync", **federated)
    return sc


def arrivals(tmp_path) -> tuple[float, float]:
    """The near and far devices' arrival instants in a synchronous round without a deadline."""
    run_scenario(validate(scenario(rounds=1)), tmp_path / "sync")
    dev = pd.read_csv(tmp_path / "sync" / "devices.csv").set_index("device")
    return float(dev.arrival_s[0]), float(dev.arrival_s[1])


def test_a_late_upload_goes_on_and_joins_the_next_aggregation(tmp_path):
    near, far = arrivals(tmp_path)
    deadline = (near + far) / 2  # the far device is still uploading at the close of round 1
    out = tmp_path / "semi"
    run_scenario(validate(semi_sync(deadline, rounds=2)), out)
    dev = pd.read_csv(out / "devices.csv").set_index(["round", "device"])
    rounds = pd.read_csv(out / "rounds.csv").set_index("round")
    rate = rate_bps(BANDWIDTH_HZ, POWER_W, math.dist(POSITIONS_M[1], (0.0, 0.0)), NF_BS_DB)
    first, second = dev.loc[(1, 1)], dev.loc[(2, 1)]
    # Round 1: the far device uploads from its start until the close, is billed for that, and is not dropped.
    assert bool(first.late) and not bool(first.arrived) and pd.isna(first.drop_reason)
    sent_s = deadline - (first.downlink_s + first.compute_s)
    assert first.upload_s == pytest.approx(sent_s, abs=TIME_TOL_S)
    assert first.uplink_bits == pytest.approx(rate * sent_s, abs=1.0)
    assert first.tx_energy_j == pytest.approx((POWER_W + CIRCUIT_W) * sent_s, rel=1e-12)
    assert rounds.round_s[1] == pytest.approx(deadline, abs=TIME_TOL_S)
    assert (rounds.late[1], rounds.dropped[1], rounds.arrived[1]) == (1, 0, 1)
    # Round 2: it cannot start another update; it sends the rest at once and arrives (payload − sent) / rate in.
    assert not bool(second.available) and second.module == "r4" and second.base_round == 1
    rest_s = (second.payload_bits - rate * sent_s) / rate
    assert second.arrival_s == pytest.approx(rest_s, abs=TIME_TOL_S)
    assert second.upload_s == pytest.approx(rest_s, abs=TIME_TOL_S)
    assert second.compute_s == 0.0 and second.downlink_s == 0.0
    assert bool(second.arrived) and second.staleness == 1 and not bool(second.late)
    assert first.uplink_bits + second.uplink_bits == pytest.approx(second.payload_bits, abs=1.0)
    near_row = dev.loc[(2, 0)]
    assert near_row.staleness == 0 and near_row.base_round == 2
    # The round closes when both are in: the fresh near device and the late far one.
    assert rounds.round_s[2] == pytest.approx(max(near_row.arrival_s, rest_s), abs=TIME_TOL_S)
    assert (rounds.applied_late[2], rounds.arrived[2], rounds.late[2]) == (1, 2, 0)
    # Attempted and broadcast once, in round 1: round 2 counts only the near device's fresh upload and broadcast.
    assert rounds.uplink_attempted_bits[2] == near_row.payload_bits
    assert rounds.downlink_bits[2] == rounds.downlink_bits[1] / 2
    # The surrogate moves the late update s(1) = 2^−0.5 as far as a fresh one, its share of its own cohort: round 1
    # selected both devices (equal data: 1/2 each), round 2 the near one alone (1); r/(r + 8) = 1/3.
    a1 = 0.5 + 0.15 * (0.5 / 3) * (0.9 - 0.5)
    a2 = a1 + 0.15 * ((1 + 0.5 * 2**-0.5) / 3) * (0.9 - a1)
    assert rounds.accuracy[1] == pytest.approx(a1, rel=1e-12)
    assert rounds.accuracy[2] == pytest.approx(a2, rel=1e-12)


def test_an_update_that_cannot_arrive_within_max_staleness_is_dropped(tmp_path):
    """The far device moved to 2.5 km uploads for over a second; rounds of 0.3 s and max_staleness 1 let it wait
    one round, not two."""
    deadline = 0.3
    sc = semi_sync(deadline, rounds=3, max_staleness=1)
    sc["devices"][0]["placement"]["positions_m"][1] = [0.0, 2500.0]
    out = tmp_path / "stale"
    run_scenario(validate(sc), out)
    dev = pd.read_csv(out / "devices.csv").set_index(["round", "device"])
    rounds = pd.read_csv(out / "rounds.csv").set_index("round")
    rate = rate_bps(BANDWIDTH_HZ, POWER_W, 2500.0, NF_BS_DB)
    assert dev.payload_bits[(1, 1)] / rate > 2 * deadline  # it could not have arrived by the end of round 2
    assert bool(dev.late[(1, 1)]) and dev.drop_reason[(2, 1)] == "stale" and not bool(dev.late[(2, 1)])
    assert (rounds.late[1], rounds.dropped_stale[2], rounds.dropped[2], rounds.late[2]) == (1, 1, 1, 0)
    # Billed for the whole second round on air, then free: it trains afresh in round 3.
    assert dev.upload_s[(2, 1)] == pytest.approx(deadline, abs=TIME_TOL_S)
    assert dev.tx_energy_j[(2, 1)] == pytest.approx((POWER_W + CIRCUIT_W) * deadline, rel=1e-12)
    assert bool(dev.available[(3, 1)]) and dev.base_round[(3, 1)] == 3


def test_staleness_weights_equal_their_formulas():
    tau = np.array([0, 1, 3, 4, 6])
    poly = staleness_weight(tau, StalenessConfig(function="polynomial", a=0.5))
    assert poly == pytest.approx([1.0, 2**-0.5, 0.5, 5**-0.5, 7**-0.5], rel=1e-15)
    hinge = staleness_weight(tau, StalenessConfig(function="hinge", a=10.0, b=4))
    assert hinge == pytest.approx([1.0, 1.0, 1.0, 1.0, 1 / 21], rel=1e-15)
    assert staleness_weight(tau, StalenessConfig(function="constant")).tolist() == [1.0] * 5


def test_late_mixing_equals_hand_computation():
    """x ← (1 − Σα)·x + Σ α_k·x_k with α_k = w_k·s_k / Σw, on 1×2 adapters: FedAvg when fresh, FedAsync for one."""
    key = "base_model.model.layer.q_proj.lora_"
    g = {
        key + "A.weight": torch.tensor([[1.0, 2.0]]),
        key + "B.weight": torch.tensor([[4.0]]),
        "head": torch.tensor([0.0]),
    }
    u1 = {
        key + "A.weight": torch.tensor([[3.0, 0.0]]),
        key + "B.weight": torch.tensor([[0.0]]),
        "head": torch.tensor([2.0]),
    }
    u2 = {
        key + "A.weight": torch.tensor([[5.0, 4.0]]),
        key + "B.weight": torch.tensor([[8.0]]),
        "head": torch.tensor([6.0]),
    }
    # Two updates, 30 and 10 samples, the second a round late with s = 0.5: α = (0.75, 0.125), the global keeps 0.125.
    mixed = mix_late(g, [u1, u2], [30, 10], [1.0, 0.5])
    assert mixed[key + "A.weight"][0].tolist() == pytest.approx(
        [0.125 * 1 + 0.75 * 3 + 0.125 * 5, 0.125 * 2 + 0.125 * 4]
    )
    assert mixed[key + "B.weight"][0].tolist() == pytest.approx([0.125 * 4 + 0.125 * 8])
    assert mixed["head"].tolist() == pytest.approx([0.75 * 2 + 0.125 * 6])
    # One update alone with s = 0.3 is FedAsync's mixing with α = 0.3.
    one = mix_late(g, [u2], [10], [0.3])
    assert one["head"].tolist() == pytest.approx([0.3 * 6])
    assert one[key + "B.weight"][0].tolist() == pytest.approx([0.7 * 4 + 0.3 * 8])
    # All fresh: the global plays no part (FedAvg).
    fresh = mix_late(g, [u1, u2], [30, 10], [1.0, 1.0])
    assert fresh["head"].tolist() == pytest.approx([0.75 * 2 + 0.25 * 6])


def test_semi_sync_needs_a_method_that_can_mix(tmp_path):
    sc = semi_sync(10.0, rounds=1)
    sc.pop("surrogate")
    sc["federated"]["training"] = "full"
    with pytest.raises(ScenarioError, match=r"federated\.mode: semi-sync .* got training 'full'"):
        validate(sc)


def test_real_lora_semi_sync_is_deterministic_and_mixes_late_adapters(tmp_path):
    """The real learner at the default model size and thread count: the far device (2.5 km) is late every time it
    trains, its adapters join the next round's aggregation, and the same seed gives the same files."""

    def real(sc: dict) -> dict:
        sc.pop("surrogate")
        sc["devices"][0]["placement"]["positions_m"][1] = [0.0, 2500.0]
        return sc

    run_scenario(validate(real(scenario(rounds=1))), tmp_path / "sync")
    near, far = pd.read_csv(tmp_path / "sync" / "devices.csv").arrival_s
    for name in ("a", "b"):
        run_scenario(validate(real(semi_sync((near + far) / 2, rounds=3))), tmp_path / name)
    for table in ("rounds.csv", "devices.csv"):
        assert (tmp_path / "a" / table).read_bytes() == (tmp_path / "b" / table).read_bytes()
    rounds = pd.read_csv(tmp_path / "a" / "rounds.csv").set_index("round")
    assert rounds.late.tolist() == [0, 1, 0, 1] and rounds.applied_late.tolist() == [0, 0, 1, 0]
    assert rounds.arrived[2] == 2 and np.isfinite(rounds.accuracy).all()
    # The late update's weight reaches the real mixing: s = 1 (a = 0) and s ≈ 0 (a = 50) agree until it arrives.
    for name, a in (("full", 0.0), ("none", 50.0)):
        sc = real(semi_sync((near + far) / 2, rounds=2))
        sc["federated"]["staleness"] = {"function": "polynomial", "a": a}
        run_scenario(validate(sc), tmp_path / name)
    full, none = (pd.read_csv(tmp_path / n / "rounds.csv").set_index("round") for n in ("full", "none"))
    assert full.loss[1] == none.loss[1] == rounds.loss[1] and full.loss[2] != none.loss[2]
    assert rounds.loss[2] not in (full.loss[2], none.loss[2])  # a = 0.5 lies between


def test_a_carried_update_that_hands_over_asks_at_most_its_new_cells_pool():
    """A band larger than the new cell's whole pool would never be granted and would block that cell: it is capped."""
    from fedwireless.sim.engine import Carry, DevicePlan
    from fedwireless.sim.late import LateUpdates

    plan = DevicePlan(device=0, cell=0, power_w=0.1, bandwidth_hz=15e6, downlink_bits=8, uplink_bits=800, flops=1.0,
                      flops_per_s=1.0, compute_power_w=1.0)  # fmt: skip
    late = LateUpdates(4, StalenessConfig())
    late.carried = [Carry(plan, 0.0, 0.0, 400.0), Carry(dataclasses_replace(plan, device=1), 0.0, 0.0, 400.0)]
    late.follow(np.array([1, 0]), np.array([20e6, 10e6]))
    moved, stayed = late.carried
    assert (moved.plan.cell, moved.plan.bandwidth_hz) == (1, 10e6)
    assert (stayed.plan.cell, stayed.plan.bandwidth_hz) == (0, 15e6) and moved.bits == 400.0
