"""Asynchronous learning (`federated.mode: async`) on the hand-computable scenario of `test_trace`: each device
cycles downlink → compute → upload on its own clock, the server applies each arrival at the instant the formulas
give, with staleness counted in server updates and FedAsync's or FedBuff's weights."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from fedwireless.learning.aggregate import buffered_step
from fedwireless.outputs.layout import read_table
from fedwireless.scenario import ScenarioError, validate
from fedwireless.sim.run import run_scenario

from .test_trace import (
    BANDWIDTH_HZ,
    CIRCUIT_W,
    DL_BANDWIDTH_MHZ,
    DL_POWER_DBM,
    FLOPS_PER_S,
    NF_BS_DB,
    NF_UE_DB,
    POWER_W,
    TIME_TOL_S,
    rate_bps,
    scenario,
)

FAR_M = 1800.0  # the second device, far enough that several of the near device's updates land during one of its own
RANK_SHARE = 4 / (4 + 8)  # the surrogate's r / (r + rank_half) at rank 4
RATE, START, TOP = 0.15, 0.5, 0.9  # the surrogate's defaults: rate, initial and maximum accuracy


def asynchronous(steps: int, **settings) -> dict:
    sc = scenario(rounds=steps)
    sc["devices"][0]["placement"]["positions_m"][1] = [0.0, FAR_M]
    sc["federated"].update(mode="async", asynchronous={"concurrency": 2, **settings})
    return sc


def cycle_s(out) -> list[float]:
    """Each device's downlink + compute + upload time, from the textbook formulas (sizes and FLOPs from the run)."""
    rounds = pd.read_csv(out / "rounds.csv").set_index("round")
    dev = pd.read_csv(out / "devices.csv")
    dl_bits = rounds.downlink_bits[1] / 2  # both devices are sent the model in the first step
    out_s = []
    for d, d_m in enumerate((100.0, FAR_M)):
        row = dev[dev.device == d].iloc[0]
        dl = dl_bits / rate_bps(DL_BANDWIDTH_MHZ * 1e6, 10 ** ((DL_POWER_DBM - 30) / 10), d_m, NF_UE_DB)
        up = row.payload_bits / rate_bps(BANDWIDTH_HZ, POWER_W, d_m, NF_BS_DB)
        out_s.append(dl + row.flops / FLOPS_PER_S + up)
    return out_s


def expected_events(cycles: list[float], steps: int, weight) -> list[tuple[float, int, int]]:
    """(instant, device, staleness) of the first `steps` arrivals: each device re-dispatched at its arrival, from
    the version the server is at then."""
    due, base, version, out = list(cycles), [0, 0], 0, []
    for _ in range(steps):
        d = int(np.argmin(due))
        out.append((due[d], d, version - base[d]))
        version += weight
        base[d], due[d] = version, due[d] + cycles[d]
    return out


def test_fedasync_applies_each_arrival_at_its_instant_with_its_staleness(tmp_path):
    steps = 10
    out = tmp_path / "fedasync"
    run_scenario(validate(asynchronous(steps, alpha=0.6)), out)
    rounds = pd.read_csv(out / "rounds.csv").set_index("round")
    dev = read_table(out / "devices.csv")
    events = expected_events(cycle_s(out), steps, weight=1)
    assert {tau for _, d, tau in events if d == 1} - {0} and max(t for *_, t in events) >= 3  # a stale far update
    acc = START
    for step, (t, d, tau) in enumerate(events, start=1):
        alpha = 0.6 * (1 + tau) ** -0.5  # FedAsync: α·s(τ), polynomial a = 0.5
        acc += RATE * alpha * RANK_SHARE * (TOP - acc)
        assert rounds.sim_time_s[step] == pytest.approx(t, abs=TIME_TOL_S)
        assert rounds.accuracy[step] == pytest.approx(acc, rel=1e-12)
        assert (rounds.version[step], rounds.applied[step], rounds.staleness_mean[step]) == (step, 1, tau)
        row = dev[(dev["round"] == step) & (dev.applied == 1)].iloc[0]
        assert (row.device, row.staleness, row.base_version) == (d, tau, step - 1 - tau)
        assert row.weight == pytest.approx(alpha, rel=1e-12) and row.arrival_s == pytest.approx(t, abs=TIME_TOL_S)
    # The far device's first update crossed several steps; billed as one upload: (P + P_c) × payload / rate.
    far = dev[(dev.device == 1) & (dev.applied == 1)].iloc[0]
    up_s = far.payload_bits / rate_bps(BANDWIDTH_HZ, POWER_W, FAR_M, NF_BS_DB)
    assert far.upload_s == pytest.approx(up_s, abs=TIME_TOL_S) and far.uplink_bits == far.payload_bits
    assert far.tx_energy_j == pytest.approx((POWER_W + CIRCUIT_W) * up_s, rel=1e-9)
    assert far.compute_energy_j == pytest.approx(far.flops * 1e-10, rel=1e-9)
    assert far.dispatch_s == 0.0 and far.arrival_s == pytest.approx(cycle_s(out)[1], abs=TIME_TOL_S)
    # What is still under way at the end has its row, unfinished.
    assert (dev.drop_reason == "unfinished").sum() == rounds.under_way.iloc[-1] >= 1


def test_fedbuff_applies_every_k_arrivals_with_the_mean_staleness_weighted_step(tmp_path):
    steps, k = 8, 2
    out = tmp_path / "fedbuff"
    run_scenario(validate(asynchronous(steps, algorithm="fedbuff", buffer_size=k, server_lr=0.8)), out)
    rounds = pd.read_csv(out / "rounds.csv").set_index("round")
    dev = read_table(out / "devices.csv")
    # The version moves every K arrivals, so staleness counts the buffers applied since a dispatch.
    events, base, due = [], [0, 0], list(cycle_s(out))
    for arrived in range(steps):
        d = int(np.argmin(due))
        events.append((due[d], d, arrived // k - base[d]))
        base[d], due[d] = (arrived + 1) // k, due[d] + cycle_s(out)[d]
    acc, buffer = START, []
    for step, (t, _, tau) in enumerate(events, start=1):
        buffer.append((1 + tau) ** -0.5)
        assert rounds.sim_time_s[step] == pytest.approx(t, abs=TIME_TOL_S)
        if len(buffer) == k:  # a server update, then an evaluation (eval_every: 1 server update)
            acc += RATE * 0.8 * float(np.mean(buffer)) * RANK_SHARE * (TOP - acc)
            assert (rounds.applied[step], rounds.buffered[step], rounds.evaluated[step]) == (k, 0, 1)
            assert rounds.accuracy[step] == pytest.approx(acc, rel=1e-12)
            buffer = []
        else:  # buffered: the model did not change, nothing is evaluated
            assert (rounds.applied[step], rounds.buffered[step], rounds.evaluated[step]) == (0, len(buffer), 0)
            assert np.isnan(rounds.accuracy[step])
        assert rounds.version[step] == step // k
    applied = dev[dev.applied == 1].sort_values("arrival_s")
    assert len(applied) == steps and set(applied["round"]) == {2, 4, 6, 8}
    assert applied.weight.tolist() == pytest.approx([0.8 * (1 + t) ** -0.5 / k for _, _, t in events], rel=1e-12)


def test_an_update_too_stale_to_apply_is_dropped(tmp_path):
    """max_staleness 1: the far update, three versions behind by the time it could land, is dropped at the close
    of the step that puts it two versions behind; the device is then free and is dispatched again at once."""
    out = tmp_path / "stale"
    run_scenario(validate(asynchronous(3, max_staleness=1)), out)
    rounds = pd.read_csv(out / "rounds.csv").set_index("round")
    dev = read_table(out / "devices.csv")
    stale = dev[dev.drop_reason == "stale"]
    assert stale.device.tolist() == [1] and stale["round"].tolist() == [2] and not stale.arrived.iloc[0]
    assert rounds.dropped_stale.tolist() == [0, 0, 1, 0]
    assert rounds.selected[3] == 2  # the near device after its arrival and the far one, free again


def test_buffered_step_equals_hand_computation():
    """x ← x + η·(1/K)·Σ s_k·(x_k − b_k) on 1×2 adapters of ranks 1 and 2 (the rank-1 one zero-padded)."""
    key = "m.lora_"
    g = {key + "A.weight": torch.tensor([[1.0, 2.0], [0.5, 0.5]]), key + "B.weight": torch.tensor([[4.0, 1.0]]),
         "head": torch.tensor([0.0])}  # fmt: skip
    b1 = {key + "A.weight": torch.tensor([[1.0, 2.0]]), key + "B.weight": torch.tensor([[4.0]]),
          "head": torch.tensor([0.0])}  # fmt: skip
    x1 = {key + "A.weight": torch.tensor([[3.0, 0.0]]), key + "B.weight": torch.tensor([[5.0]]),
          "head": torch.tensor([2.0])}  # fmt: skip
    b2 = {key + "A.weight": torch.tensor([[0.0, 0.0], [1.0, 1.0]]), key + "B.weight": torch.tensor([[2.0, 2.0]]),
          "head": torch.tensor([1.0])}  # fmt: skip
    x2 = {key + "A.weight": torch.tensor([[1.0, 1.0], [1.0, 3.0]]), key + "B.weight": torch.tensor([[2.0, 6.0]]),
          "head": torch.tensor([-1.0])}  # fmt: skip
    out = buffered_step(g, [x1, x2], [b1, b2], [1.0, 0.5], server_lr=2.0)
    # Coefficients η·s_k/K: 1.0 and 0.5. Δ1 = A [[2, −2], [0, 0]], B [[1, 0]], head 2; Δ2 = A [[1, 1], [0, 2]],
    # B [[0, 4]], head −2.
    assert out[key + "A.weight"].tolist() == [[1 + 2 + 0.5, 2 - 2 + 0.5], [0.5, 0.5 + 1.0]]
    assert out[key + "B.weight"].tolist() == [[4 + 1, 1 + 2]]
    assert out["head"].tolist() == [0 + 2 - 1]


def test_async_needs_a_method_that_can_mix(tmp_path):
    sc = asynchronous(1)
    sc.pop("surrogate")
    sc["federated"]["training"] = "full"
    with pytest.raises(ScenarioError, match=r"federated\.mode: async applies each arriving update .* 'full'"):
        validate(sc)


@pytest.mark.parametrize("algorithm", ["fedasync", "fedbuff"])
def test_real_lora_async_is_deterministic_and_moves_the_model(tmp_path, algorithm):
    """The real learner at the default model size and thread count: the same seed gives the same files, and the
    evaluated loss moves with each server update (FedBuff: only when its buffer of 2 is applied)."""
    for name in ("a", "b"):
        sc = asynchronous(4, algorithm=algorithm, buffer_size=2)
        sc.pop("surrogate")
        run_scenario(validate(sc), tmp_path / name)
    for table in ("rounds.csv", "devices.csv"):
        assert (tmp_path / "a" / table).read_bytes() == (tmp_path / "b" / table).read_bytes()
    rounds = pd.read_csv(tmp_path / "a" / "rounds.csv").set_index("round")
    evaluated = [0, 1, 2, 3, 4] if algorithm == "fedasync" else [0, 2, 4]  # after each server update
    assert rounds.index[rounds.evaluated == 1].tolist() == evaluated
    loss = rounds.loss[evaluated].tolist()
    assert np.isfinite(loss).all() and rounds.loss.drop(evaluated).isna().all()
    assert all(a != b for a, b in zip(loss, loss[1:]))
    assert math.isclose(rounds.version.iloc[-1], 4 if algorithm == "fedasync" else 2)


def test_a_slow_device_trains_across_steps_and_arrives_at_its_formula_instant(tmp_path):
    """The far device computes ten times slower (1 GFLOP/s): the near device's arrivals close several steps during
    its downlink and training, which go on from where they stopped; it arrives at downlink + compute + upload."""
    sc = asynchronous(16)
    group = sc["devices"][0]
    near = {**group, "count": 1, "placement": {"kind": "explicit", "positions_m": [[100.0, 0.0]]}}
    slow = {**group, "count": 1, "placement": {"kind": "explicit", "positions_m": [[0.0, FAR_M]]},
            "compute": {"flops_per_s": FLOPS_PER_S / 10, "j_per_flop": 1e-9}}  # fmt: skip
    sc["devices"] = [near, slow]
    out = tmp_path / "slow"
    run_scenario(validate(sc), out)
    dev = read_table(out / "devices.csv")
    rounds = pd.read_csv(out / "rounds.csv").set_index("round")
    far = dev[(dev.device == 1) & (dev.applied == 1)].iloc[0]
    dl_bits = rounds.downlink_bits[1] / 2
    dl_s = dl_bits / rate_bps(DL_BANDWIDTH_MHZ * 1e6, 10 ** ((DL_POWER_DBM - 30) / 10), FAR_M, NF_UE_DB)
    compute_s = far.flops / (FLOPS_PER_S / 10)
    up_s = far.payload_bits / rate_bps(BANDWIDTH_HZ, POWER_W, FAR_M, NF_BS_DB)
    near_cycle = cycle_s(out)[0]
    assert compute_s > 5 * near_cycle  # its training spans at least five of the near device's updates
    assert far.arrival_s == pytest.approx(dl_s + compute_s + up_s, abs=TIME_TOL_S)
    assert far.staleness == int((dl_s + compute_s + up_s) // near_cycle)
    # Compute energy: the slow group's 1e9 FLOP/s at 1e-9 J/FLOP is 1 W for its whole training, however cut.
    assert far.compute_energy_j == pytest.approx(compute_s * 1.0, rel=1e-9)
    assert far.upload_s == pytest.approx(up_s, abs=TIME_TOL_S)


def test_evaluation_every_simulated_interval(tmp_path):
    """eval_every: null, eval_every_s: 0.25: the model is evaluated at the first step that ends at or past each
    multiple of 0.25 s, and after the last step; the other steps have no accuracy."""
    steps = 10
    out = tmp_path / "timed"
    run_scenario(validate(asynchronous(steps, eval_every=None, eval_every_s=0.25)), out)
    rounds = pd.read_csv(out / "rounds.csv").set_index("round")
    times = [t for t, *_ in expected_events(cycle_s(out), steps, weight=1)]
    due, expected = 0.25, []
    for step, t in enumerate(times, start=1):
        if t >= due or step == steps:
            expected.append(step)
            while due <= t:
                due += 0.25
    assert rounds.index[rounds.evaluated == 1].tolist() == [0, *expected]
    assert rounds.accuracy.drop([0, *expected]).isna().all() and rounds.accuracy[[0, *expected]].notna().all()
    assert len(expected) < steps - 2  # fewer evaluations than server updates


def test_energy_queues_advance_by_each_steps_share_of_the_budget():
    """Q ← max(Q + E − Ē·step_s/deadline_s, 0) per server step: a step earns its length's share of the budget."""
    from fedwireless.sim.loop import Simulation

    sc = asynchronous(6)
    sc["devices"][0]["energy_budget_j"] = 0.02
    sim = Simulation(validate(sc))
    seen = []
    observe = sim.policy.observe
    sim.policy.observe = lambda outcome: (seen.append(outcome), observe(outcome))[-1]
    queue = np.zeros(2)
    for _ in range(6):
        row = sim.step()
        outcome = seen[-1]
        assert outcome.budget_share == pytest.approx(row["round_s"] / sc["deadline_s"], rel=1e-12)
        queue = np.maximum(queue + outcome.energy_j - 0.02 * outcome.budget_share, 0.0)
        assert sim.energy_queue.values_j(2) == pytest.approx(queue, rel=1e-12, abs=1e-15)
    assert queue.max() > 0 and sum(o.energy_j.sum() for o in seen) == pytest.approx(
        sum(r["energy_j"] for r in sim.round_rows[1:]), rel=1e-12
    )


def test_real_lora_async_mixes_heterogeneous_ranks(tmp_path):
    """Ranks 4 and 8 drawn per dispatch (`random` policy): FedAsync mixes each into the rank-8 global adapters
    (zero-padded), FedBuff moves them by zero-padded deltas; both learn with finite losses."""
    for algorithm in ("fedasync", "fedbuff"):
        sc = asynchronous(8, algorithm=algorithm, buffer_size=2)
        sc.pop("surrogate")
        sc["federated"]["ranks"] = [4, 8]
        sc["policy"] = {"name": "random"}
        run_scenario(validate(sc), tmp_path / algorithm)
        dev = read_table(tmp_path / algorithm / "devices.csv")
        rounds = pd.read_csv(tmp_path / algorithm / "rounds.csv")
        assert set(dev["rank"][dev.applied == 1]) == {4, 8}, algorithm
        loss = rounds.loss[rounds.evaluated == 1]
        assert np.isfinite(loss).all() and loss.iloc[-1] != loss.iloc[0]


def test_validate_describes_an_asynchronous_run(tmp_path, capsys):
    import json

    from fedwireless.cli import main

    path = tmp_path / "a.json"
    path.write_text(json.dumps(asynchronous(50, duration_s=3.0, algorithm="fedbuff")), encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    assert "asynchronous fedbuff, 2 at once, 3 simulated s or 50 server steps" in capsys.readouterr().out
