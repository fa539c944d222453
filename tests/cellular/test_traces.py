"""Drive-test generator: exact relations, radio-model statistics with named tolerances, determinism."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import spearmanr

from channels.lte import MCS_SPECTRAL_EFFICIENCY, mcs_required_sinr_db
from fedwireless.cellular.traces import (
    AREAS,
    DEFAULT_AREAS,
    TRACE_COLUMNS,
    RadioParams,
    generate_traces,
)

ROWS = 1500
SEED = 20240401
# Named tolerances / thresholds of the statistical checks (all at the fixed seed above).
MIN_TUNNEL_HIGHWAY_SINR_GAP_DB = 5.0  # tunnel mean SINR at least this far below highway's (measured ≈ 14 dB)
MIN_SPEARMAN_SINR_DATARATE = 0.7  # rank correlation SINR -> data rate (measured ≈ 0.84)
MIN_SPEARMAN_SINR_MCS = 0.95  # link adaptation is monotone up to the CQI error (measured ≈ 0.99)
MAX_SPEARMAN_DISTANCE_RSRP = -0.4  # RSRP falls with distance in every open-air area (measured −0.5..−0.8)
MIN_PING_GAP_LOW_SINR_MS = 10.0  # retransmissions: ping at SINR < MCS-0 need − 2 dB vs > 10 dB (≈ 23 ms)
MIN_HANDOVERS_PER_AREA = 5


@pytest.fixture(scope="module")
def df():
    return generate_traces(ROWS, np.random.default_rng(SEED), include_diagnostics=True)


def test_columns_rows_and_time(df):
    assert list(df.columns[: len(TRACE_COLUMNS)]) == list(TRACE_COLUMNS)
    assert list(df["area"].unique()) == list(AREAS)
    assert (df.groupby("area").size() == ROWS).all()
    assert np.allclose(np.diff(df["time_s"]), 1.0)


def test_determinism(df):
    again = generate_traces(ROWS, np.random.default_rng(SEED), include_diagnostics=True)
    assert again.equals(df)
    other = generate_traces(ROWS, np.random.default_rng(SEED + 1), include_diagnostics=True)
    assert not np.allclose(other["rsrp_dbm"], df["rsrp_dbm"])


def test_speeds_in_area_ranges(df):
    for area, g in df.groupby("area"):
        lo, hi = DEFAULT_AREAS[area].speed_range_kmh
        assert g["speed_kmh"].between(lo, hi).all(), area


def test_tunnel_sinr_below_highway(df):
    sinr = df.groupby("area")["sinr_db"].mean()
    assert sinr["Highway"] - sinr["Tunnel"] > MIN_TUNNEL_HIGHWAY_SINR_GAP_DB
    assert (~df.loc[df.area == "Tunnel", "serving_los"]).all()


def test_datarate_and_mcs_increase_with_sinr(df):
    assert spearmanr(df["sinr_db"], df["datarate_mbps"])[0] > MIN_SPEARMAN_SINR_DATARATE
    assert spearmanr(df["sinr_db"], df["mcs"])[0] > MIN_SPEARMAN_SINR_MCS


def test_rsrp_decreases_with_distance(df):
    for area in ("Residential", "Park", "Avenue", "Highway"):
        g = df[df.area == area]
        assert spearmanr(g["serving_distance_m"], g["rsrp_dbm"])[0] < MAX_SPEARMAN_DISTANCE_RSRP, area


def test_ping_grows_when_sinr_falls(df):
    low = df.loc[df.sinr_db < mcs_required_sinr_db(0.6)[0] - 2.0, "ping_ms"]
    high = df.loc[df.sinr_db > 10.0, "ping_ms"]
    assert len(low) > 20
    assert low.mean() - high.mean() > MIN_PING_GAP_LOW_SINR_MS


def test_handovers_happen_within_area_cells(df):
    for area, g in df.groupby("area"):
        assert (g["cell_id"].diff().fillna(0) != 0).sum() >= MIN_HANDOVERS_PER_AREA, area
    assert df.groupby("cell_id")["area"].nunique().max() == 1  # cell ids are unique per area


def test_reporting_ranges(df):
    assert df["rsrq_db"].between(-19.5, -3.0).all()
    assert df["rsrp_dbm"].between(-140.0, -44.0).all()
    assert df["sinr_db"].max() < 30.0  # impairment ceiling
    assert df["mcs"].between(0, 28).all()


def test_datarate_formula_exact(df):
    # Reference re-derivation, row by row: RB x 12 x 14 x 1000 x SE(MCS) x (1 - 0.14) / 1e6.
    for _, r in df.sample(50, random_state=0).iterrows():
        q, rate = [(2, 120), (2, 157), (2, 193), (2, 251), (2, 308), (2, 379), (2, 449), (2, 526), (2, 602),
                   (2, 679), (4, 340), (4, 378), (4, 434), (4, 490), (4, 553), (4, 616), (4, 658), (6, 438),
                   (6, 466), (6, 517), (6, 567), (6, 616), (6, 666), (6, 719), (6, 772), (6, 822), (6, 873),
                   (6, 910), (6, 948)][int(r.mcs)]  # fmt: skip
        expected = r.resource_blocks * 12 * 14 * 1000 * (q * rate / 1024) * 0.86 / 1e6
        assert r.datarate_mbps == pytest.approx(expected, rel=1e-12)
    assert MCS_SPECTRAL_EFFICIENCY[0] == pytest.approx(0.2344, abs=1e-4)
    assert MCS_SPECTRAL_EFFICIENCY[-1] == pytest.approx(5.5547, abs=1e-4)


def test_isolated_cell_sinr_and_rsrq_rederived():
    # One site, one band, constant load: no interference, so (TS 36.214 / module docstring)
    # SINR = 1 / (N/RSRP + 1/SINR_max) and RSRQ = 10 log10(RSRP / (12 (a RSRP + N))), a = 1/6 + 5/6 load.
    spec = replace(DEFAULT_AREAS["Park"], num_sites=1, bands=("B3",), mean_load=0.3)
    radio = RadioParams(load_sigma=0.0)
    out = generate_traces(200, np.random.default_rng(3), areas=("Park",), area_specs={"Park": spec}, radio=radio)
    out = out[out.rsrp_dbm.between(-139.9, -44.1)]  # reported values not clipped
    rsrp_mw = 10 ** (out.rsrp_dbm.to_numpy() / 10)
    noise_mw = 1.380649e-23 * 290 * 15e3 * 10 ** (radio.noise_figure_db / 10) * 1e3  # k·T·Δf·NF in mW
    sinr = -10 * np.log10(noise_mw / rsrp_mw + 10 ** (-radio.sinr_ceiling_db / 10))
    assert np.allclose(out.sinr_db, sinr)
    a = 1 / 6 + 5 / 6 * 0.3
    rsrq = np.clip(10 * np.log10(rsrp_mw / (12 * (a * rsrp_mw + noise_mw))), -19.5, -3.0)
    assert np.allclose(out.rsrq_db, rsrq)
    assert (out.cell_id == out.cell_id.iloc[0]).all()


def test_generator_uses_the_channels_physics():
    # One implementation of each formula in the project: the generator's are the co-simulator's.
    import channels.pathloss
    import channels.shadowing
    import fedwireless.cellular.traces as traces

    assert traces.pathloss_db is channels.pathloss.pathloss_db
    assert traces.los_probability is channels.pathloss.los_probability
    assert traces.shadowing_sigma_db is channels.pathloss.shadowing_sigma_db
    assert traces.ar1_sequence is channels.shadowing.ar1_sequence
    from pathlib import Path

    source = Path(traces.__file__).read_text(encoding="utf-8").split('"""', 2)[2]  # code after the docstring
    for constant in ("299792458", "299_792_458", "-174", "np.log10(", "** (", "10.0 **", "j0(", "1e3 *", "15e3"):
        assert constant not in source, constant


def test_rows_per_area_mapping_and_errors():
    small = generate_traces({"Park": 5, "Tunnel": 3}, np.random.default_rng(0), areas=("Park", "Tunnel"))
    assert small.groupby("area").size().to_dict() == {"Park": 5, "Tunnel": 3}
    with pytest.raises(ValueError, match="unknown area"):
        generate_traces(10, np.random.default_rng(0), areas=("Moon",))
    with pytest.raises(ValueError, match="num_rows_per_area"):
        generate_traces(1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="sample_period_s"):
        generate_traces(10, np.random.default_rng(0), sample_period_s=0)
