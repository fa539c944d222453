"""Results tables written a block of rows at a time, column-wise, as CSV or Parquet.

A block is one round's rows as columns (name -> array). CSV cells are formatted a column at a time with the
same rules as `fedwireless.outputs.files.write_csv` (floats by `repr`, the shortest text that round-trips, so
files are byte-identical across runs; NaN as an empty cell; booleans as 0/1), so both writers give the same
bytes. Parquet (pyarrow, imported only when used) keeps the column types, booleans included; a row group is cut
at the first round boundary once 500,000 rows are buffered, so same-seed files are identical too. Both are
written under a temporary name and renamed when closed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

FORMATS = ("csv", "parquet")
# output.format: auto writes a table as Parquet when it would hold more rows than this (~250 MB of CSV text
# for devices.csv); below it, CSV.
AUTO_PARQUET_ROWS = 1_000_000
# Rows buffered before a Parquet row group is written: bounds memory at 100,000+ devices.
ROW_GROUP_ROWS = 500_000

COMPRESSION = "zstd"
_DTYPES = {"int": np.int64, "float": np.float64, "bool": np.bool_}


def choose_format(fmt: str, expected_rows: int) -> str:
    """`csv` or `parquet` for a table of about `expected_rows` rows under `output.format`."""
    if fmt == "auto":
        return "parquet" if expected_rows > AUTO_PARQUET_ROWS else "csv"
    return fmt


def _quote(text: str) -> str:
    # csv.QUOTE_MINIMAL's rule: quote a cell holding the delimiter, the quote or a line break; double quotes.
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _float_cells(values: np.ndarray) -> list[str]:
    cells = list(map(repr, values.tolist()))
    if np.isnan(values).any():
        for i in np.flatnonzero(np.isnan(values)):
            cells[i] = ""
    return cells


def csv_cells(values: Any, kind: str) -> list[str]:
    """One column's CSV cells: floats by repr (NaN empty), ints as digits, booleans 0/1, text quoted as needed."""
    if kind == "float":
        return _float_cells(np.asarray(values, dtype=float))
    if kind == "int":
        return list(map(str, np.asarray(values, dtype=np.int64).tolist()))
    if kind == "bool":
        return ["1" if v else "0" for v in np.asarray(values, dtype=bool).tolist()]
    quoted: dict[str, str] = {}  # few distinct names (groups, stations, modules, reasons): quote each once
    return [quoted[v] if v in quoted else quoted.setdefault(v, _quote(v)) for v in map(str, values)]


class TableWriter:
    """Appends blocks of a table with fixed columns and kinds (`int`, `float`, `bool`, `text`) to one file."""

    def __init__(self, path: Path, fmt: str, kinds: Mapping[str, str]) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"table format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        self.fmt = fmt
        self.path = Path(path).with_suffix("." + fmt)
        self.kinds = dict(kinds)
        self.rows = 0
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._buffer: list[dict[str, np.ndarray]] = []
        self._buffered = 0
        self._parquet = None
        if fmt == "csv":
            self._file = self._tmp.open("w", newline="", encoding="utf-8")
            self._file.write(",".join(_quote(c) for c in self.kinds) + "\n")

    def write(self, block: Mapping[str, Any]) -> None:
        n = len(next(iter(block.values()))) if block else 0
        if n == 0:
            return
        self.rows += n
        if self.fmt == "csv":
            cols = [csv_cells(block[c], kind) for c, kind in self.kinds.items()]
            self._file.write("".join(",".join(cells) + "\n" for cells in zip(*cols)))
            return
        self._buffer.append({c: _column(block[c], kind) for c, kind in self.kinds.items()})
        self._buffered += n
        if self._buffered >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = {c: np.concatenate([b[c] for b in self._buffer]) if self._buffer else _column([], k)
                for c, k in self.kinds.items()}  # fmt: skip
        table = pa.table({c: _arrow(v, self.kinds[c]) for c, v in cols.items()})
        if self._parquet is None:
            # Dictionary pages for the names only: trying them on every float column costs more than it saves.
            text = [c for c, k in self.kinds.items() if k == "text"]
            self._parquet = pq.ParquetWriter(self._tmp, table.schema, compression=COMPRESSION, use_dictionary=text)
        self._parquet.write_table(table, row_group_size=max(table.num_rows, 1))
        self._buffer, self._buffered = [], 0

    def close(self) -> Path:
        """Finish the file and give it its final name."""
        if self.fmt == "csv":
            self._file.close()
        else:
            if self._buffered or self._parquet is None:
                self._flush()
            self._parquet.close()
        self._tmp.replace(self.path)
        return self.path

    def abort(self) -> None:
        if self.fmt == "csv":
            self._file.close()
        elif self._parquet is not None:
            self._parquet.close()
        self._tmp.unlink(missing_ok=True)


def _column(values: Any, kind: str) -> np.ndarray:
    if kind == "text":
        if isinstance(values, np.ndarray) and values.dtype == object:
            return values
        return np.asarray([str(v) for v in values], dtype=object)
    return np.asarray(values, dtype=_DTYPES[kind])


def _arrow(values: np.ndarray, kind: str):
    import pyarrow as pa

    return pa.array(values, type=pa.string()) if kind == "text" else pa.array(values)


def row_kinds(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> dict[str, str]:
    """Kinds of dict rows' columns: `bool`/`int`/`text` where every row has that type, else `float`."""
    kinds = {}
    for c in columns:
        values = [r[c] for r in rows if c in r]
        present = len(values) == len(rows)
        if values and all(isinstance(v, bool) for v in values):
            kinds[c] = "bool" if present else "float"
        elif present and values and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
            kinds[c] = "int"
        elif values and all(isinstance(v, str) for v in values):
            kinds[c] = "text"
        else:
            kinds[c] = "float"
    return kinds


def write_rows(path: Path, fmt: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Path:
    """A small table of dict rows (rounds, timing) as `fmt`; a missing cell is NaN (empty in CSV)."""
    if fmt == "csv":
        from fedwireless.outputs.files import write_csv

        out = Path(path).with_suffix(".csv")
        write_csv(out, rows, columns)
        return out
    kinds = row_kinds(rows, columns)
    writer = TableWriter(path, fmt, kinds)
    nan = float("nan")
    writer.write({c: [r.get(c, "" if kinds[c] == "text" else nan) for r in rows] for c in columns})
    return writer.close()


def read_parquet(path: Path, columns: list[str] | None = None):
    """A Parquet results table as the CSV reader gives it: booleans as 0/1 integers, text as str; `columns`: only
    those the file has."""
    import pandas as pd
    import pyarrow.parquet as pq

    if columns is not None:
        columns = [c for c in pq.read_schema(path).names if c in columns]
    frame = pd.read_parquet(path, columns=columns)
    for c in frame.columns:
        if frame[c].dtype == bool:
            frame[c] = frame[c].astype(np.int64)
    return frame
