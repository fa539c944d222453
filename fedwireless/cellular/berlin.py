"""Loader for a real Berlin V2X cellular table (Hernangómez et al., "Berlin V2X: A Machine Learning Dataset
from Multiple Vehicles and Radio Access Technologies", VTC2023-Spring; `cellular_dataframe.parquet`).

The data set is not shipped or downloaded; a user who has the file passes its path. CSV is always
and parquet (read with `pyarrow`, a dependency) are supported.

`DEFAULT_COLUMN_MAP` maps our column names (those of `fedwireless.cellular.traces.TRACE_COLUMNS`) to the
data set's. The source names are ASSUMED from public code that reads the file (we could not read the
data set's own documentation); override any of them with `column_map`, or map one to `None` to leave
that column out:

- time_s <- ``ts_gps`` (datetime, converted to seconds since the first row; numeric is used as is)
- x_m, y_m <- ``Latitude``, ``Longitude`` (equirectangular projection around the mean point,
  x east, y north, Earth radius 6,371,000 m; accurate to < 0.1 % over a city)
- speed_kmh <- ``speed_kmh``; area <- ``area``; cell_id <- ``PCell_Cell_Identity``
- band, frequency_mhz <- ``PCell_E-ARFCN`` (downlink EARFCN, 3GPP TS 36.101 §5.7.3:
  F_DL = F_DL_low + 0.1 (N_DL − N_Offs-DL) MHz, bands of `EARFCN_BANDS`)
- rsrp_dbm <- ``PCell_RSRP_max``; rsrq_db <- ``PCell_RSRQ_max``; sinr_db <- ``PCell_SNR_max``
- mcs <- ``PCell_Downlink_Average_MCS``; resource_blocks <- ``PCell_Downlink_Num_RBs``
- datarate_mbps <- ``datarate`` times `datarate_scale` (default 1e-6: ASSUMED bit/s in the file)
- ping_ms <- ``ping_ms``

A `column_map` entry for ``x_m``/``y_m`` or ``band``/``frequency_mhz`` takes those columns directly
instead of deriving them (then ``latitude``/``longitude`` or ``earfcn`` are not needed).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

EARTH_RADIUS_M = 6_371_000.0

DEFAULT_COLUMN_MAP: dict[str, str | None] = {
    "time_s": "ts_gps",
    "latitude": "Latitude",
    "longitude": "Longitude",
    "speed_kmh": "speed_kmh",
    "area": "area",
    "cell_id": "PCell_Cell_Identity",
    "earfcn": "PCell_E-ARFCN",
    "rsrp_dbm": "PCell_RSRP_max",
    "rsrq_db": "PCell_RSRQ_max",
    "sinr_db": "PCell_SNR_max",
    "mcs": "PCell_Downlink_Average_MCS",
    "resource_blocks": "PCell_Downlink_Num_RBs",
    "datarate_mbps": "datarate",
    "ping_ms": "ping_ms",
}
# Keys a column_map may use: the defaults' plus columns that can be given directly instead of derived.
_KNOWN_KEYS = (*DEFAULT_COLUMN_MAP, "x_m", "y_m", "band", "frequency_mhz")

# TS 36.101 Table 5.7.3-1, downlink: band -> (F_DL_low MHz, N_Offs-DL, last N_DL). Bands used in Germany.
EARFCN_BANDS: dict[str, tuple[float, int, int]] = {
    "B1": (2110.0, 0, 599),
    "B3": (1805.0, 1200, 1949),
    "B7": (2620.0, 2750, 3449),
    "B8": (925.0, 3450, 3799),
    "B20": (791.0, 6150, 6449),
    "B28": (758.0, 9210, 9659),
    "B32": (1452.0, 9920, 10359),
}


def earfcn_to_band_frequency(earfcn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(band names, downlink centre frequency in MHz) of downlink EARFCNs (TS 36.101 §5.7.3)."""
    n = np.asarray(earfcn, dtype=float)
    band = np.full(n.shape, "", dtype=object)
    freq = np.full(n.shape, np.nan)
    for name, (f_low, offs, last) in EARFCN_BANDS.items():
        sel = (n >= offs) & (n <= last)
        band[sel] = name
        freq[sel] = f_low + 0.1 * (n[sel] - offs)
    bad = ~np.isnan(n) & np.isnan(freq)
    if np.any(bad):
        raise ValueError(
            f"EARFCN values {sorted(set(n[bad].astype(int).tolist()))[:5]} are outside the known bands "
            f"{', '.join(f'{b}: {o}-{e}' for b, (_, o, e) in EARFCN_BANDS.items())}; map 'band' and "
            "'frequency_mhz' directly in column_map"
        )
    return band, freq


def _read_table(path: Path) -> pd.DataFrame:
    import pandas as pd

    if not path.exists():
        raise FileNotFoundError(f"Berlin V2X file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path, low_memory=False)
    if suffix == ".parquet":
        return pd.read_parquet(path)
    raise ValueError(f"path must end in .csv or .parquet, got {path.name!r}")


def load_berlin_v2x(
    path: str | Path,
    column_map: Mapping[str, str | None] | None = None,
    *,
    datarate_scale: float = 1e-6,
    dropna: bool = True,
) -> pd.DataFrame:
    """Read a Berlin V2X cellular table and return it with our column names (module docstring).

    Args:
        path: a `.csv` or `.parquet` file.
        column_map: overrides of `DEFAULT_COLUMN_MAP` (our name -> source name, or None to leave out).
        datarate_scale: factor from the file's data-rate unit to Mbit/s.
        dropna: drop rows with a missing value in any returned column (the file has gaps).

    Returns:
        DataFrame with the columns of `TRACE_COLUMNS` that the mapping provides, in that order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unknown keys in column_map, or source columns missing from the file (named, with
        the file's columns listed).
    """
    import pandas as pd

    from fedwireless.cellular.traces import TRACE_COLUMNS

    cmap: dict[str, str | None] = dict(DEFAULT_COLUMN_MAP)
    if column_map is not None:
        unknown = [k for k in column_map if k not in _KNOWN_KEYS]
        if unknown:
            raise ValueError(f"column_map: unknown keys {unknown}; known: {', '.join(_KNOWN_KEYS)}")
        cmap.update(column_map)
    # Directly mapped x/y or band/frequency replace the derivations.
    if cmap.get("x_m") or cmap.get("y_m"):
        cmap["latitude"] = cmap["longitude"] = None
    if cmap.get("band") or cmap.get("frequency_mhz"):
        cmap["earfcn"] = None
    raw = _read_table(Path(path))
    wanted = {k: v for k, v in cmap.items() if v is not None}
    missing = sorted({v for v in wanted.values() if v not in raw.columns})
    if missing:
        raise ValueError(
            f"{Path(path).name}: missing columns {missing} (override them in column_map or map to None); "
            f"the file has {list(raw.columns)}"
        )
    out = pd.DataFrame(index=raw.index)
    for ours, src in wanted.items():
        if ours in ("latitude", "longitude", "earfcn"):
            continue
        out[ours] = raw[src]
    if "time_s" in out:
        t = out["time_s"]
        if not pd.api.types.is_numeric_dtype(t):
            t = pd.to_datetime(t, errors="coerce")
            t = (t - t.min()).dt.total_seconds()
        out["time_s"] = t.astype(float)
    if "latitude" in wanted and "longitude" in wanted:
        lat = np.radians(raw[wanted["latitude"]].astype(float).to_numpy())
        lon = np.radians(raw[wanted["longitude"]].astype(float).to_numpy())
        lat0, lon0 = np.nanmean(lat), np.nanmean(lon)
        out["x_m"] = EARTH_RADIUS_M * (lon - lon0) * np.cos(lat0)
        out["y_m"] = EARTH_RADIUS_M * (lat - lat0)
    if "earfcn" in wanted:
        band, freq = earfcn_to_band_frequency(raw[wanted["earfcn"]].to_numpy())
        out["band"], out["frequency_mhz"] = band, freq
        out.loc[out["band"] == "", "band"] = None
    if "datarate_mbps" in out:
        out["datarate_mbps"] = out["datarate_mbps"].astype(float) * datarate_scale
    cols = [c for c in TRACE_COLUMNS if c in out.columns]
    out = out[cols]
    if dropna:
        out = out.dropna()
    for c in ("cell_id", "mcs", "resource_blocks"):
        if c in out and pd.api.types.is_float_dtype(out[c]) and np.all(np.mod(out[c].to_numpy(), 1) == 0):
            out[c] = out[c].astype(np.int64)
    return out.reset_index(drop=True)
