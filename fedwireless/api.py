"""The Python API: run scenarios and sweeps from a notebook or a script.

    import fedwireless
    result = fedwireless.run("scenarios/quickstart.yaml", overrides={"rounds": 5})
    result.rounds[["round", "accuracy", "energy_j"]]     # pandas DataFrames, as in rounds.csv / devices.csv
    result.summary["final_accuracy"]

`scenario` is a YAML path, a mapping (the YAML's content) or a `Scenario`; `overrides` are `key.path: value`
pairs as `--set` takes them. With `out` the run directory is written as the CLI writes it; without, the run
happens in a temporary directory that is removed afterwards (`Result.dir` is None). The tables are read back
from the same CSV files the CLI writes, so they are equal to them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from fedwireless.scenario import Scenario


@dataclass(frozen=True)
class Result:
    """One run: its per-round and per-device tables, its summary, and where it was written (None: nowhere)."""

    rounds: pd.DataFrame
    devices: pd.DataFrame
    summary: dict[str, Any]
    dir: Path | None
    aggregations: pd.DataFrame | None = None  # hierarchical runs: aggregations.csv (edge, cloud, broadcast events)


def load_scenario(scenario: str | Path | Mapping[str, Any] | Scenario, overrides: Mapping[str, Any] | None = None):
    """A validated `Scenario` from a path, a mapping or a `Scenario` (overrides applied). Raises ScenarioError."""
    from fedwireless.scenario import Scenario, apply_overrides, load_scenario_dict, scenario_to_dict, validate

    if isinstance(scenario, Scenario):
        data, source = scenario_to_dict(scenario), "scenario"
    elif isinstance(scenario, Mapping):
        data, source = dict(scenario), "scenario"
    else:
        data, source = load_scenario_dict(scenario), str(scenario)
    if overrides:
        data = apply_overrides(data, dict(overrides))
    return validate(data, source)


def read_tables(run_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """rounds.csv and devices.csv of a run directory as DataFrames: an empty text cell stays "", an empty
    number (a documented absence, e.g. no arrival) is NaN in a float column."""
    from fedwireless.outputs.layout import read_run

    return read_run(run_dir)


def run(
    scenario: str | Path | Mapping[str, Any] | Scenario,
    *,
    overrides: Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    backend: str = "local",
    address: str | None = None,
    workers: int | None = None,
) -> Result:
    """Run a scenario; see the module docstring. Raises ScenarioError for a bad scenario, OutputError for an
    `out` fedwireless may not write. `backend="ray"` trains each round's clients on Ray actors (`address`: an
    existing cluster; `workers`: how many actors), with the tables of the local backend."""
    from fedwireless.plotting import draw_run
    from fedwireless.sim.run import run_scenario

    sc = load_scenario(scenario, overrides)
    remote = {"backend": backend, "address": address, "workers": workers}
    if out is not None:
        summary = run_scenario(sc, Path(out), overwrite=overwrite, draw=draw_run, **remote)
        return Result(*read_tables(out), summary, Path(out), _aggregations(out))
    with tempfile.TemporaryDirectory(prefix="fedwireless-") as tmp:
        summary = run_scenario(sc, Path(tmp) / "run", **remote)
        rounds, devices = read_tables(Path(tmp) / "run")
        aggregations = _aggregations(Path(tmp) / "run")
    summary.pop("run_dir", None)
    return Result(rounds, devices, summary, None, aggregations)


def _aggregations(run_dir: str | Path) -> pd.DataFrame | None:
    from fedwireless.outputs.layout import AGGREGATIONS_FILE, read_table, table_file

    path = table_file(run_dir, AGGREGATIONS_FILE)
    return read_table(path) if path.is_file() else None


def sweep(path: str | Path, *, workers: int = 1, out: str | Path | None = None) -> pd.DataFrame:
    """Run (or resume) a sweep file; return its index (one row per point) as a DataFrame."""
    from fedwireless.outputs.layout import read_index
    from fedwireless.sweeps import load_sweep, run_sweep, write_index

    sw = load_sweep(path, out)
    run_sweep(sw, workers=workers)
    write_index(sw)
    return read_index(sw.out_dir)
