"""Extreme but legal scenarios run to the end with finite tables, or `validate` refuses them (exit 2).

Surrogate learning, a few rounds each; every case has a wall-clock limit so a hang fails the test.
"""

from __future__ import annotations

import math
import signal

import pandas as pd
import pytest
import yaml

from fedwireless.cli import main
from fedwireless.scenario import apply_overrides

CASE_LIMIT_S = 30
BASE = {
    "name": "extreme",
    "rounds": 3,
    "deadline_s": 5.0,
    "devices": [{"count": 4, "placement": {"kind": "disc", "radius_m": 200}}],
    "federated": {"ranks": [4, 8]},
    "surrogate": {},
    "output": {"plots": False},
}
POLICIES = ["uniform", "greedy", "energy-min", "lyapunov"]
EXTREMES = [
    {"devices[0].max_power_dbm": -300},
    {"devices[0].max_power_dbm": 80},
    {"devices[0].placement.radius_m": 50000},
    {"devices[0].placement.radius_m": 0.5},
    {"base_stations[0].bandwidth_mhz": 1e-6},
    {"base_stations[0].bandwidth_mhz": 1e5},
    {"base_stations[0].downlink_power_dbm": -200},
    {"deadline_s": 1e-6},
    {"deadline_s": 1e6},
    {"devices[0].compute.flops_per_s": 1e-3},
    {"devices[0].compute.flops_per_s": 1e30},
    {"devices[0].energy_budget_j": 1e-12},
    {"devices[0].availability": 0.0},
    {"devices[0].mobility": {"kind": "random-waypoint", "speed_mps": [1e6, 1e7]}},
    {"channel.coherence": "correlated", "channel.coherence_step_s": 1e-7},
    {"channel.fading": {"kind": "rician", "k_factor_db": 300}},
    {"channel.fading": {"kind": "nakagami", "m": 0.5}},
    {"channel.packet_errors": {"enabled": True, "waterfall_m": 1e6}},
    {"base_stations[0].pathloss": {"model": "log-distance", "params": {"pl0_db": 40, "d0_m": 0, "exponent": 3}}},
    {"base_stations[0].carrier_ghz": 1000},
    {"task.model.max_seq_len": 100000},
    {"devices[0].count": 1},
]
CASES = [(p, e) for e in EXTREMES for p in POLICIES]  # every extreme under every policy


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


@pytest.mark.parametrize(("policy", "extreme"), CASES, ids=[f"{p}-{i // 4}" for i, (p, _) in enumerate(CASES)])
def test_extreme_legal_run(tmp_path, capsys, policy, extreme):
    data = apply_overrides(BASE, {**extreme, "policy.name": policy})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "run"
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_LIMIT_S)
    try:
        validated = main(["validate", str(path)])
        code = main(["run", str(path), "--out", str(out), "--quiet"]) if validated == 0 else None
    except _Timeout:
        pytest.fail(f"no answer within {CASE_LIMIT_S} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if validated == 2:
        assert err.startswith("error:")
        return
    assert code == 0, err
    # Documented empties: no arrival time for an update that did not arrive, no budget, no drop reason,
    # no per-device evaluation without real learning, rewards only for personalized fine-tuning.
    for table, documented_empty in (
        ("rounds.csv", {"compression_ratio"}),
        (
            "devices.csv",
            {"arrival_s", "energy_budget_j", "eval_accuracy", "eval_loss", "eval_reward", "eval_reward_global"},
        ),  # fmt: skip
    ):
        df = pd.read_csv(out / table)
        if table == "rounds.csv":
            df = df[df["round"] >= 1]  # round 0 is the model before training: no policy terms yet
        for col in df.select_dtypes("number").columns:
            if col == "drop_reason":
                continue
            values = df[col].dropna() if col in documented_empty else df[col]
            assert values.map(math.isfinite).all(), (table, col, values.tolist())


def test_a_diverging_model_stops_and_says_so(tmp_path, capsys):
    from tests.conftest import TINY

    data = apply_overrides(
        {"name": "diverge", "rounds": 6, "devices": [{"count": 3}], "output": {"plots": False}},
        {**TINY, "task.lr": 1e12, "task.local_steps": 5},
    )
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["run", str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert "diverged at round" in capsys.readouterr().err
    import json

    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["diverged"] is True
    rounds = pd.read_csv(tmp_path / "run" / "rounds.csv")
    assert int(rounds["round"].max()) == summary["diverged_at_round"] == summary["rounds"]
