"""The run and sweep folder layout: file names, and reading the tables back.

A run directory holds scenario.yaml, rounds.csv, devices.csv, timing.csv and summary.json (written last: its
presence marks a finished run); a sweep directory holds sweep.yaml, index.csv and one run directory per point
(error.txt where a point failed). A table may be Parquet instead (rounds.parquet, ...; `output.format`): the
readers take either.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedwireless.outputs.columns import MAY_BE_EMPTY, TEXT_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

SCENARIO_FILE = "scenario.yaml"
ROUNDS_FILE = "rounds.csv"
DEVICES_FILE = "devices.csv"
TIMING_FILE = "timing.csv"
AGGREGATIONS_FILE = "aggregations.csv"  # hierarchical runs: edge, cloud and broadcast events
SUMMARY_FILE = "summary.json"
SWEEP_FILE = "sweep.yaml"
INDEX_FILE = "index.csv"
ERROR_FILE = "error.txt"


def table_file(run_dir: str | Path, name: str) -> Path:
    """The file of a run's table `name` (e.g. "devices.csv"): the CSV, else its Parquet twin if that exists."""
    csv = Path(run_dir) / name
    parquet = csv.with_suffix(".parquet")
    return parquet if not csv.is_file() and parquet.is_file() else csv


def is_run_dir(path: Path) -> bool:
    return table_file(path, ROUNDS_FILE).is_file()


def is_sweep_dir(path: Path) -> bool:
    return (Path(path) / INDEX_FILE).is_file()


def read_table(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A results table as a DataFrame: an empty text cell stays "", an empty number is NaN (float columns).
    `columns`: only those (the ones the table has), for tables too large to hold whole."""
    import pandas as pd

    if Path(path).suffix == ".parquet":
        from fedwireless.outputs.tables import read_parquet

        return read_parquet(path, columns)
    header = pd.read_csv(path, nrows=0).columns
    if columns is not None:
        header = [c for c in header if c in columns]
    dtype: dict[str, Any] = {c: str for c in TEXT_COLUMNS if c in header}
    dtype.update({c: float for c in MAY_BE_EMPTY if c in header})
    empty_is_missing = {c: [""] for c in header if c not in TEXT_COLUMNS}
    return pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=empty_is_missing,
                       usecols=None if columns is None else list(header))  # fmt: skip


def read_run(run_dir: str | Path, device_columns: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """rounds.csv and devices.csv of a run directory (or their Parquet files); `device_columns`: only those of
    devices.csv."""
    devices = read_table(table_file(run_dir, DEVICES_FILE), device_columns)
    return read_table(table_file(run_dir, ROUNDS_FILE)), devices


def read_index(sweep_dir: str | Path) -> pd.DataFrame:
    """index.csv of a sweep directory: one row per point."""
    import pandas as pd

    return pd.read_csv(Path(sweep_dir) / INDEX_FILE)


def point_dirs(sweep_dir: Path) -> list[tuple[dict[str, Any], Path]]:
    """(index row, run dir) of every finished point of a sweep directory."""
    out = []
    for _, row in read_index(sweep_dir).iterrows():
        if row["status"] == "done":
            out.append((row.to_dict(), Path(sweep_dir) / str(row["run_dir"])))
    return out
