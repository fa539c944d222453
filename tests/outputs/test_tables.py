"""Results tables as CSV or Parquet (`output.format`), and `output.device_rows`: same numbers either way."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedwireless import read_tables
from fedwireless.outputs import tables
from fedwireless.outputs.files import write_csv
from fedwireless.scenario import validate
from fedwireless.sim.run import run_scenario

QUICKSTART = Path(__file__).resolve().parents[2] / "scenarios" / "quickstart.yaml"

SURROGATE = {
    "name": "t",
    "rounds": 4,
    "deadline_s": 2.0,
    "base_stations": [{"position_m": [0, 0]}, {"position_m": [600, 0], "name": 'west, "b"'}],
    "devices": [
        {"count": 30, "name": "phones", "energy_budget_j": 0.5, "placement": {"kind": "disc", "radius_m": 900}},
        {"count": 20, "mobility": {"kind": "random-waypoint", "speed_mps": [1, 15]}, "availability": 0.7},
    ],
    "channel": {"packet_errors": {"enabled": True}},
    "federated": {"ranks": [4, 8], "clients_per_round": 12},
    "surrogate": {"noise_std": 0.01},
    "output": {"plots": False},
}


def run(tmp_path: Path, name: str, data: dict | None = None, **output) -> Path:
    data = dict(data or SURROGATE)
    data["output"] = {**data.get("output", {}), **output}
    run_scenario(validate(data), tmp_path / name)
    return tmp_path / name


def test_parquet_and_csv_runs_read_back_as_equal_frames(tmp_path):
    csv_run, pq_run = run(tmp_path, "csv", format="csv"), run(tmp_path, "pq", format="parquet")
    assert sorted(p.name for p in pq_run.glob("*.parquet")) == ["devices.parquet", "rounds.parquet", "timing.parquet"]
    assert not list(pq_run.glob("*.csv"))
    (rc, dc), (rp, dp) = read_tables(csv_run), read_tables(pq_run)
    assert len(dc) == 4 * 50 and dc["drop_reason"].ne("").any() and dc["arrival_s"].isna().any()
    assert (dc["base_station"] == 'west, "b"').any()  # a name CSV must quote
    pd.testing.assert_frame_equal(dc, dp)
    pd.testing.assert_frame_equal(rc, rp)


def test_real_training_parquet_equals_csv(tmp_path):
    """The quickstart's real learner at its default size, one round: per-device evaluation columns included."""
    from fedwireless.scenario import load_scenario_dict

    data = load_scenario_dict(QUICKSTART)
    data.update(rounds=1)
    data["task"] = {**data.get("task", {}), "pretrain": {**data.get("task", {}).get("pretrain", {}), "steps": 20}}
    (rc, dc), (rp, dp) = (read_tables(run(tmp_path, f, data, format=f, plots=False)) for f in ("csv", "parquet"))
    assert dc["eval_accuracy"].notna().all()
    pd.testing.assert_frame_equal(dc, dp)
    pd.testing.assert_frame_equal(rc, rp)


def test_same_seed_gives_the_same_parquet_bytes(tmp_path):
    a, b = run(tmp_path, "a", format="parquet"), run(tmp_path, "b", format="parquet")
    for name in ("devices.parquet", "rounds.parquet"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_column_writer_gives_the_row_writers_bytes(tmp_path):
    """The column-wise CSV writer formats every kind of cell as the row writer does (repr, empty NaN, 0/1)."""
    kinds = {"i": "int", "f": "float", "b": "bool", "t": "text"}
    floats = [0.1, float("nan"), float("inf"), -0.0, 1e-300, 3.0]
    texts = ["a", "", 'q"uote', "com,ma", "line\nbreak", "a"]
    block = {"i": np.arange(6) * 10**12, "f": np.array(floats), "b": np.array([1, 0, 1, 1, 0, 0], bool), "t": texts}
    writer = tables.TableWriter(tmp_path / "cols.csv", "csv", kinds)
    writer.write({c: v[:4] for c, v in block.items()})
    writer.write({c: v[4:] for c, v in block.items()})
    writer.close()
    rows = [
        {"i": i, "f": f, "b": b, "t": t} for i, f, b, t in zip(*(list(np.asarray(v).tolist()) for v in block.values()))
    ]
    write_csv(tmp_path / "rows.csv", rows, list(kinds))
    assert (tmp_path / "cols.csv").read_bytes() == (tmp_path / "rows.csv").read_bytes()
    back = list(csv.reader(io.StringIO((tmp_path / "cols.csv").read_text())))
    assert [r[3] for r in back[1:]] == texts and back[2][1] == "" and back[3][1] == "inf"


def test_auto_writes_parquet_only_for_tables_over_the_stated_size(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "AUTO_PARQUET_ROWS", 4 * 50 - 1)  # devices: 200 rows, rounds: 5
    auto = run(tmp_path, "auto")
    assert (auto / "devices.parquet").is_file() and (auto / "rounds.csv").is_file()
    monkeypatch.setattr(tables, "AUTO_PARQUET_ROWS", 4 * 50)
    assert (run(tmp_path, "small") / "devices.csv").is_file()
    assert tables.choose_format("csv", 10**9) == "csv" and tables.choose_format("parquet", 1) == "parquet"


def test_sampled_device_rows_are_a_fixed_sample_of_the_full_table(tmp_path):
    _, full = read_tables(run(tmp_path, "all"))
    rounds_all, sampled = read_tables(run(tmp_path, "sampled", device_rows="sampled", device_rows_rate=0.1))
    ids = sampled.groupby("round")["device"].apply(tuple)
    assert len(ids) == 4 and len(set(ids)) == 1 and len(ids.iloc[0]) == 5  # round(0.1 · 50), same every round
    expected = full.set_index(["round", "device"]).loc[sampled.set_index(["round", "device"]).index].reset_index()
    pd.testing.assert_frame_equal(sampled, expected)
    rounds_none, none = read_tables(run(tmp_path, "none", device_rows="none"))
    assert len(none) == 0 and list(none.columns) == list(full.columns)
    pd.testing.assert_frame_equal(rounds_none, rounds_all)  # the rounds do not change


def test_a_run_plot_reads_a_parquet_run(tmp_path):
    from fedwireless.plotting import draw_run

    pq_run = run(tmp_path, "pq", format="parquet")
    draw_run(pq_run, "t")
    drawn = pd.read_csv(pq_run / "device_energy.csv").set_index("device")
    _, devices = read_tables(pq_run)
    assert drawn.energy_j.to_numpy() == pytest.approx(devices.groupby("device").energy_j.mean().to_numpy())


def test_plots_of_runs_without_device_rows_and_with_thousands_of_devices(tmp_path, monkeypatch):
    """No devices table: no device figure (and no error), for a run and a sweep. Past 2,000 devices the energy
    figure draws each group's devices sorted by energy, as lines holding the table's means."""
    import fedwireless.plotting.run as run_plots
    from fedwireless.plotting import draw_run, plot_sweep
    from fedwireless.sweeps import load_sweep, run_sweep

    none = run(tmp_path, "none", device_rows="none")
    assert "device_energy.png" not in [p.name for p in draw_run(none, "t")]
    sweep = tmp_path / "sweep.yaml"
    body = {"name": "s", "scenario": {**SURROGATE, "output": {"plots": False, "device_rows": "none"}},
            "grid": {"seed": [0, 1]}, "out": str(tmp_path / "sw")}  # fmt: skip
    sweep.write_text(__import__("yaml").safe_dump(body))
    run_sweep(load_sweep(sweep))
    drawn = [p.name for p in plot_sweep(tmp_path / "sw")]
    assert "accuracy_vs_energy.png" in drawn and "device_energy_vs_budget.png" not in drawn

    big = {**SURROGATE, "rounds": 2,
           "devices": [{"count": 1500, "name": "a", "energy_budget_j": 0.5}, {"count": 1000, "name": "b"}]}  # fmt: skip
    figures = {}
    monkeypatch.setattr(run_plots, "save", lambda fig, path: figures.setdefault(path.name, fig) and path)
    run_plots.plot_run(run(tmp_path, "big", big), tmp_path / "plots")
    _, devices = read_tables(tmp_path / "big")
    means = devices.groupby(["group", "device"]).energy_j.mean()
    lines = figures["device_energy.png"].axes[0].get_lines()
    drawn_lines = [ln for ln in lines if len(ln.get_ydata()) > 2]
    assert len(drawn_lines) == 2
    for line, group in zip(drawn_lines, ["a", "b"]):
        np.testing.assert_allclose(line.get_ydata(), np.sort(means[group].to_numpy())[::-1])
    assert [ln.get_ydata()[0] for ln in lines if len(ln.get_ydata()) == 2] == [0.5]  # the budget line


def test_a_sample_rate_without_sampling_is_refused_by_name():
    from fedwireless.scenario import ScenarioError

    with pytest.raises(ScenarioError, match="output.device_rows_rate: applies only with device_rows: sampled"):
        validate({**SURROGATE, "output": {"device_rows_rate": 0.2}})
    validate({**SURROGATE, "output": {"device_rows": "sampled", "device_rows_rate": 0.2}})


def test_a_table_read_for_some_columns_keeps_their_values(tmp_path):
    """Plots read only the columns they draw (a 1,000,000-device table is several GB whole): same values."""
    from fedwireless.outputs.layout import read_run

    for fmt in ("csv", "parquet"):
        path = run(tmp_path, fmt, format=fmt)
        _, whole = read_tables(path)
        _, some = read_run(path, ["device", "energy_j", "drop_reason", "not_a_column"])
        assert list(some.columns) == ["device", "energy_j", "drop_reason"]
        pd.testing.assert_frame_equal(some, whole[["device", "energy_j", "drop_reason"]])


def test_studies_pair_each_sampled_row_with_its_own_devices_budget(tmp_path):
    import yaml

    from fedwireless.studies import run_in_memory

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(SURROGATE))
    _, rows = run_in_memory(path, {"output.device_rows": "sampled", "output.device_rows_rate": 0.2})
    assert len(rows) == 4 * 10 and rows["device"].nunique() == 10
    budgets = rows.groupby("device")["budget_j"].first()
    assert all(budgets[d] == (0.5 if d < 30 else np.inf) for d in budgets.index)  # phones 0-29 have 0.5 J
