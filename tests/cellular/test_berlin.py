"""Berlin V2X loader on small CSV files written by the tests."""

import math

import numpy as np
import pandas as pd
import pytest

from fedwireless.cellular.berlin import DEFAULT_COLUMN_MAP, earfcn_to_band_frequency, load_berlin_v2x
from fedwireless.cellular.traces import TRACE_COLUMNS


def _raw(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts_gps": pd.date_range("2021-06-01 10:00:00", periods=n, freq="s").astype(str),
            "Latitude": [52.5 + 1e-4 * k for k in range(n)],
            "Longitude": [13.3] * n,
            "speed_kmh": [30.0, 31.0, 32.0, 33.0][:n],
            "area": ["Park"] * n,
            "PCell_Cell_Identity": [101, 101, 102, 102][:n],
            "PCell_E-ARFCN": [1300, 1300, 6300, 3100][:n],
            "PCell_RSRP_max": [-80.0, -81.0, -90.0, -95.0][:n],
            "PCell_RSRQ_max": [-9.0, -10.0, -11.0, -12.0][:n],
            "PCell_SNR_max": [20.0, 18.0, 5.0, 1.0][:n],
            "PCell_Downlink_Average_MCS": [20.0, 19.0, 8.0, 3.0][:n],
            "PCell_Downlink_Num_RBs": [50.0, 40.0, 30.0, 20.0][:n],
            "datarate": [20e6, 15e6, 3e6, 1e6][:n],
            "ping_ms": [25.0, 27.0, 40.0, 55.0][:n],
            "jitter": [1.0] * n,  # extra columns are ignored
        }
    )


def test_default_mapping(tmp_path):
    path = tmp_path / "cellular.csv"
    _raw().to_csv(path, index=False)
    out = load_berlin_v2x(path)
    assert list(out.columns) == list(TRACE_COLUMNS)
    assert out["time_s"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert out["datarate_mbps"].tolist() == pytest.approx([20.0, 15.0, 3.0, 1.0])
    assert out["band"].tolist() == ["B3", "B3", "B20", "B7"]
    # TS 36.101: F_DL = F_low + 0.1 (N - N_offs): B3 1805 + 10 = 1815; B20 791 + 15 = 806; B7 2620 + 35 = 2655
    assert out["frequency_mhz"].tolist() == pytest.approx([1815.0, 1815.0, 806.0, 2655.0])
    assert out["cell_id"].dtype == np.int64 and out["mcs"].tolist() == [20, 19, 8, 3]
    # 1e-4 degree of latitude = R * 1e-4 * pi / 180 m north between rows; no east movement
    assert np.diff(out["y_m"]).tolist() == pytest.approx([6_371_000 * math.radians(1e-4)] * 3)
    assert np.allclose(out["x_m"], 0.0)


def test_override_and_leave_out(tmp_path):
    raw = _raw().rename(columns={"PCell_SNR_max": "PCell_SNR_1"}).drop(columns=["PCell_E-ARFCN"])
    raw["f"] = 1840.0
    path = tmp_path / "c.csv"
    raw.to_csv(path, index=False)
    out = load_berlin_v2x(path, {"sinr_db": "PCell_SNR_1", "frequency_mhz": "f", "band": None})
    assert out["sinr_db"].tolist() == [20.0, 18.0, 5.0, 1.0]
    assert "band" not in out.columns and (out["frequency_mhz"] == 1840.0).all()


def test_dropna(tmp_path):
    raw = _raw()
    raw.loc[1, "ping_ms"] = np.nan
    path = tmp_path / "c.csv"
    raw.to_csv(path, index=False)
    assert len(load_berlin_v2x(path)) == 3
    assert len(load_berlin_v2x(path, dropna=False)) == 4


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_berlin_v2x(tmp_path / "missing.csv")
    path = tmp_path / "c.csv"
    _raw().drop(columns=["ping_ms", "PCell_RSRP_max"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"missing columns \['PCell_RSRP_max', 'ping_ms'\]"):
        load_berlin_v2x(path)
    with pytest.raises(ValueError, match="unknown keys"):
        load_berlin_v2x(path, {"snr": "x"})
    (tmp_path / "c.txt").write_text("a")
    with pytest.raises(ValueError, match=".csv or .parquet"):
        load_berlin_v2x(tmp_path / "c.txt")
    with pytest.raises(ValueError, match="outside the known bands"):
        earfcn_to_band_frequency(np.array([99999]))


def test_a_parquet_file_reads_as_its_csv(tmp_path):
    _raw().to_csv(tmp_path / "c.csv", index=False)
    _raw().to_parquet(tmp_path / "c.parquet", index=False)
    pd.testing.assert_frame_equal(load_berlin_v2x(tmp_path / "c.parquet"), load_berlin_v2x(tmp_path / "c.csv"))


def test_default_map_covers_trace_columns():
    derived = {"x_m", "y_m", "band", "frequency_mhz"}
    assert set(TRACE_COLUMNS) - derived <= set(DEFAULT_COLUMN_MAP)
