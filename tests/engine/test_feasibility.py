"""A run that cannot train says why, with the numbers, before it starts and in every idle round."""

from __future__ import annotations

import json

import numpy as np

from fedwireless.cli import main
from fedwireless.feasibility import idle_round, untrainable

from ..conftest import TINY


def test_messages_name_the_closest_device_and_its_figures():
    compute = np.array([[8.5, 9.0], [17.0, 18.0]])  # [devices, modules] seconds
    flops = compute * 2e10
    rate = np.array([2e10, 1e10])
    flops[1] = compute[1] * 1e10
    steps = np.array([10, 10])
    names = ["phones", "walkers"]
    msg = untrainable(compute, flops, rate, steps, names, 6.0)
    assert "compute 8.5 s (10 steps × 17 GFLOP at 2e+10 FLOP/s, phones) > deadline 6 s" in msg
    assert untrainable(compute, flops, rate, steps, names, 9.0) is None  # the phones fit
    msg = idle_round(1, [True, True], compute, np.array([0.03, 0.01]), flops, rate, steps, names, 6.0, "uniform")
    assert msg.startswith("round 1: no device trained: 2 of 2 available devices infeasible; closest: ")
    assert "downlink 0.03 s + compute 8.5 s" in msg
    msg = idle_round(2, [False, False], compute, np.zeros(2), flops, rate, steps, names, 6.0, "uniform")
    assert msg == "round 2: no device trained: none of the 2 devices is available"
    msg = idle_round(3, [True, True], compute, np.zeros(2), flops, rate, steps, names, 20.0, "greedy")
    assert msg == "round 3: no device trained: 2 of 2 available devices fit the deadline, policy greedy chose none"


def _scenario(tmp_path, flops_per_s):
    sc = {
        "name": "slow",
        "rounds": 2,
        "deadline_s": 6.0,
        "devices": [{"name": "phones", "count": 3, "compute": {"flops_per_s": flops_per_s}}],
        "task": {
            "model": {k.split(".")[-1]: v for k, v in TINY.items() if k.startswith("task.model.")},
            "pretrain": {"steps": 20},
            "dataset": {"num_train": 200, "num_test": 50, "num_public": 100},
            "local_steps": 10,
            "batch_size": 8,
        },
        "output": {"plots": False},
    }
    path = tmp_path / "slow.yaml"
    path.write_text(json.dumps(sc), encoding="utf-8")
    return path


def test_a_run_whose_devices_cannot_finish_says_why(tmp_path, capsys):
    path = _scenario(tmp_path, 1e3)  # 10 steps of a few MFLOP each at 1 kFLOP/s: hours against 6 s
    assert main(["validate", str(path)]) == 0
    err = capsys.readouterr().err
    assert "warning: no device group's local training fits the deadline" in err and "deadline_s 6 s" in err
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    lines = capsys.readouterr().err.splitlines()
    first = next(m for m in lines if m.startswith("WARNING: no device can finish its local training"))
    assert "compute 1.7e+04 s (10 steps × 0.0017 GFLOP at 1e+03 FLOP/s, phones) > deadline 6 s" in first
    idle = [m for m in lines if m.startswith("WARNING: round ")]
    assert [m.split(":")[1] for m in idle] == [" round 1", " round 2"]
    assert all("3 of 3 available devices infeasible; closest: downlink " in m for m in idle)
    assert lines[-1].startswith("warning: no device trained in any of the 2 rounds")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["rounds_without_training"] == 2 and summary["updates_selected"] == 0


def test_a_feasible_run_prints_no_such_warning(tmp_path, capsys):
    path = _scenario(tmp_path, 1e12)
    assert main(["validate", str(path)]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert "no device" not in capsys.readouterr().err
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["rounds_without_training"] == 0


def test_policies_plan_with_the_compute_time_the_engine_charges(tmp_path):
    """Each round's plan holds the FLOPs of the batches that round draws (texts of different lengths, each
    batch padded to its longest): the compute time a policy sees is the one the round then takes."""
    from fedwireless.scenario import load_scenario
    from fedwireless.sim.loop import Simulation

    sc = load_scenario(_scenario(tmp_path, 1e9))
    sim = Simulation(sc, cache_dir=tmp_path / "cache")
    seen = []
    decide = sim.policy.decide
    sim.policy.decide = lambda state: seen.append(state.compute_time_s.copy()) or decide(state)
    for _ in range(sc.rounds):
        sim.step()
    charged = [r for r in sim.device_rows if r["flops"] > 0]
    assert len(charged) >= 3
    for row in charged:
        planned = seen[row["round"] - 1][row["device"], 0]
        assert row["compute_s"] == planned
    assert len({round(float(s[0, 0]), 12) for s in seen}) > 1  # rounds draw other batches: other costs
