"""The Python API returns the tables the CLI writes, from a path, a mapping or a Scenario."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import fedwireless
from fedwireless.cli import main

from .conftest import TINY

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"


def test_run_in_memory_equals_the_cli_csvs(tmp_path):
    overrides = {**TINY, "rounds": 2}
    result = fedwireless.run(str(QUICKSTART), overrides=overrides)
    assert result.dir is None and result.summary["rounds"] == 2
    sets = [a for k, v in overrides.items() for a in ("--set", f"{k}={v}")]
    assert main(["run", str(QUICKSTART), "--out", str(tmp_path / "cli"), "--quiet", "--no-plots", *sets]) == 0
    # Against pandas' own reading of the CLI's files: every number column equal, dtype included (an empty
    # cell is NaN); text columns keep "" where pandas gives NaN.
    rounds = pd.read_csv(tmp_path / "cli" / "rounds.csv")
    devices = pd.read_csv(tmp_path / "cli" / "devices.csv")
    pd.testing.assert_frame_equal(result.rounds, rounds)
    assert list(result.devices.columns) == list(devices.columns)
    text = {"drop_reason", "group", "base_station", "module"}
    for col in devices.columns:
        if col in text:
            assert result.devices[col].tolist() == devices[col].fillna("").astype(str).tolist(), col
        else:
            pd.testing.assert_series_equal(result.devices[col], devices[col], obj=col)
    assert result.devices["eval_reward"].isna().all() and result.devices["eval_reward"].dtype == float
    # Every column with a documented absence is a float column with NaN there, whatever the run filled in.
    from fedwireless.outputs.columns import MAY_BE_EMPTY

    for col in set(MAY_BE_EMPTY) - {"weight"}:  # weight: asynchronous runs' dispatch rows only
        table = result.devices if col in result.devices else result.rounds
        assert table[col].dtype == float, col
    assert result.rounds["compression_ratio"].isna().iloc[0]  # round 0 sends nothing
    # Arrived rows keep an empty drop reason (not NaN), so counting by reason loses none.
    assert result.devices["drop_reason"].value_counts().sum() == len(result.devices)
    assert (result.devices["drop_reason"] == "").sum() == result.devices["arrived"].sum()


def test_run_accepts_a_mapping_or_a_scenario_and_writes_when_asked(tmp_path):
    sc = fedwireless.load_scenario(QUICKSTART, {**TINY, "rounds": 1, "output.plots": False})
    written = fedwireless.run(sc, out=tmp_path / "run")
    assert written.dir == tmp_path / "run" and (tmp_path / "run" / "summary.json").is_file()
    from fedwireless.scenario import scenario_to_dict

    again = fedwireless.run(scenario_to_dict(sc))
    pd.testing.assert_frame_equal(written.rounds, again.rounds)
    from fedwireless.scenario import ScenarioError

    with pytest.raises(ScenarioError, match="rounds: must be >= 1"):
        fedwireless.run(QUICKSTART, overrides={"rounds": 0})


def test_import_stays_light():
    code = "import sys, fedwireless; print('torch' in sys.modules, 'pandas' in sys.modules, fedwireless.run.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "run"]


def test_sweep_returns_the_index_the_cli_writes(tmp_path):
    sc = {"name": "s", "rounds": 3, "devices": [{"count": 4}], "federated": {"ranks": [4, 8]}, "surrogate": {},
          "output": {"plots": False}}  # fmt: skip
    (tmp_path / "s.yaml").write_text(json.dumps(sc), encoding="utf-8")
    body = {"name": "sw", "base": "s.yaml", "grid": {"seed": [0, 1], "policy.name": ["uniform", "greedy"]}}
    (tmp_path / "sw.yaml").write_text(json.dumps(body), encoding="utf-8")
    import fedwireless.sweeps  # noqa: F401  (a submodule named like the function used to shadow it)

    api = fedwireless.sweep(tmp_path / "sw.yaml", out=tmp_path / "api")
    again = fedwireless.sweep(tmp_path / "sw.yaml", out=tmp_path / "api")  # resumed: every point finished
    pd.testing.assert_frame_equal(api, again)
    assert main(["sweep", str(tmp_path / "sw.yaml"), "--out", str(tmp_path / "cli"), "--no-plots"]) == 0
    cli = pd.read_csv(tmp_path / "cli" / "index.csv")
    assert len(api) == 4 and list(api.status) == ["done"] * 4
    timing = ["wall_time_s"]
    pd.testing.assert_frame_equal(api.drop(columns=timing), cli.drop(columns=timing))
    for run_dir in api.run_dir:
        assert (tmp_path / "api" / run_dir / "rounds.csv").read_bytes() == (
            tmp_path / "cli" / run_dir / "rounds.csv"
        ).read_bytes()
