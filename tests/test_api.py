"""The Python API returns the tables the CLI writes, from a path, a mapping or a Scenario."""

from __future__ import annotations

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
    rounds, devices = fedwireless.read_tables(tmp_path / "cli")
    pd.testing.assert_frame_equal(result.rounds, rounds)
    pd.testing.assert_frame_equal(result.devices, devices)
    assert list(result.devices.columns) == list(pd.read_csv(tmp_path / "cli" / "devices.csv").columns)
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
