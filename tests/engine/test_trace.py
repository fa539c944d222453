"""Exact simulated-time traces of a hand-computable scenario (a hand-computable scenario pins the engine down).

Two static devices, no fading, no shadowing, the 36.814 path loss, a fixed allocation and the
learning-curve surrogate (so FLOPs and payload sizes are known). Every time in devices.csv and
rounds.csv is recomputed here from the textbook formulas with plain `math`, to 1e-9 s.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from fedwireless.scenario import validate
from fedwireless.sim.run import run_scenario

TIME_TOL_S = 1e-9

BANDWIDTH_HZ = 1e6
POWER_W = 0.1
CIRCUIT_W = 0.05  # transmit-chain power billed with the radiated power over the airtime
FLOPS_PER_S = 1e10
DL_POWER_DBM = 40.0
DL_BANDWIDTH_MHZ = 10.0
NF_BS_DB = 5.0
NF_UE_DB = 9.0
POSITIONS_M = [(100.0, 0.0), (0.0, 400.0)]


def scenario(deadline_s: float = 100.0, rounds: int = 2) -> dict:
    return {
        "name": "trace",
        "seed": 3,
        "rounds": rounds,
        "deadline_s": deadline_s,
        "base_stations": [
            {
                "position_m": [0, 0],
                "carrier_ghz": 2.0,
                "bandwidth_mhz": 5.0,
                "downlink_bandwidth_mhz": DL_BANDWIDTH_MHZ,
                "downlink_power_dbm": DL_POWER_DBM,
                "noise_figure_db": NF_BS_DB,
                "pathloss": {"model": "36.814"},
            }
        ],
        "channel": {"fading": {"kind": "none"}, "shadowing": {"enabled": False}, "los": "nlos"},
        "devices": [
            {
                "count": 2,
                "placement": {"kind": "explicit", "positions_m": [list(p) for p in POSITIONS_M]},
                "compute": {"flops_per_s": FLOPS_PER_S, "j_per_flop": 1e-10},
                "noise_figure_db": NF_UE_DB,
                "circuit_power_w": CIRCUIT_W,
            }
        ],
        "federated": {"ranks": [4]},
        "policy": {"name": "fixed", "params": {"rank": 4, "power_w": POWER_W, "bandwidth_hz": BANDWIDTH_HZ}},
        "surrogate": {},
        "output": {"plots": False},
    }


def rate_bps(b_hz: float, p_w: float, d_m: float, nf_db: float) -> float:
    """Shannon rate with TR 36.814 path loss 128.1 + 37.6 log10(d[km]) and N0 = k·T·NF (T = 290 K, ≈ −174 dBm/Hz)."""
    pl_db = 128.1 + 37.6 * math.log10(d_m / 1000.0)
    g = 10 ** (-pl_db / 10)
    n0_w_per_hz = 1.380649e-23 * 290.0 * 10 ** (nf_db / 10)
    return b_hz * math.log2(1 + p_w * g / (n0_w_per_hz * b_hz))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("trace") / "run"
    summary = run_scenario(validate(scenario()), out)
    return out, summary


def test_device_times_equal_formulas(run):
    out, _ = run
    dev = pd.read_csv(out / "devices.csv")
    assert len(dev) == 4
    for _, row in dev.iterrows():
        d_m = math.dist(POSITIONS_M[int(row.device)], (0.0, 0.0))
        dl_rate = rate_bps(DL_BANDWIDTH_MHZ * 1e6, 10 ** ((DL_POWER_DBM - 30) / 10), d_m, NF_UE_DB)
        assert row.downlink_s == pytest.approx(8 * row_downlink_bytes(out) / dl_rate, abs=TIME_TOL_S)
        assert row.compute_s == pytest.approx(row.flops / FLOPS_PER_S, abs=TIME_TOL_S)
        up_rate = rate_bps(BANDWIDTH_HZ, POWER_W, d_m, NF_BS_DB)
        assert row.upload_s == pytest.approx(row.payload_bits / up_rate, abs=TIME_TOL_S)
        assert row.arrival_s == pytest.approx(row.downlink_s + row.compute_s + row.upload_s, abs=TIME_TOL_S)
        assert row.tx_energy_j == pytest.approx((POWER_W + CIRCUIT_W) * row.upload_s, rel=1e-12)
        assert row.compute_energy_j == pytest.approx(row.flops * 1e-10, rel=1e-12)
        assert bool(row.arrived) and pd.isna(row.drop_reason)


def row_downlink_bytes(out) -> float:
    rounds = pd.read_csv(out / "rounds.csv")
    return rounds.downlink_bits.iloc[1] / 8 / 2  # two receivers


def test_round_ends_at_last_arrival(run):
    out, summary = run
    dev = pd.read_csv(out / "devices.csv")
    rounds = pd.read_csv(out / "rounds.csv")
    ends = dev.groupby("round").arrival_s.max()
    assert rounds.round_s.iloc[1:].to_numpy() == pytest.approx(ends.to_numpy(), abs=TIME_TOL_S)
    assert rounds.sim_time_s.iloc[-1] == pytest.approx(ends.sum(), abs=TIME_TOL_S)
    assert summary["sim_time_s"] == pytest.approx(ends.sum(), abs=TIME_TOL_S)


def test_deadline_drops_the_far_device(tmp_path):
    # Find the near device's arrival time, then set the deadline between the two arrivals.
    out = tmp_path / "first"
    run_scenario(validate(scenario(rounds=1)), out)
    dev = pd.read_csv(out / "devices.csv").set_index("device")
    near, far = dev.arrival_s[0], dev.arrival_s[1]
    assert near < far
    deadline = (near + far) / 2
    out2 = tmp_path / "second"
    run_scenario(validate(scenario(deadline_s=deadline, rounds=1)), out2)
    dev2 = pd.read_csv(out2 / "devices.csv").set_index("device")
    rounds = pd.read_csv(out2 / "rounds.csv")
    assert bool(dev2.arrived[0]) and not bool(dev2.arrived[1])
    assert dev2.drop_reason[1] == "deadline"
    # The straggler transmitted until the deadline and was billed for exactly that airtime.
    assert dev2.upload_s[1] == pytest.approx(deadline - (dev2.downlink_s[1] + dev2.compute_s[1]), abs=TIME_TOL_S)
    assert dev2.tx_energy_j[1] == pytest.approx((POWER_W + CIRCUIT_W) * dev2.upload_s[1], rel=1e-12)
    # Its bits on air are the Shannon rate × the airtime it had; none of them was delivered.
    on_air = rate_bps(BANDWIDTH_HZ, POWER_W, math.dist(POSITIONS_M[1], (0.0, 0.0)), NF_BS_DB) * dev2.upload_s[1]
    assert 0 < dev2.uplink_bits[1] < dev2.payload_bits[1]
    assert dev2.uplink_bits[1] == pytest.approx(on_air, abs=1.0)  # the table rounds to whole bits
    assert dev2.delivered_bits[1] == 0 and dev2.delivered_bits[0] == dev2.uplink_bits[0] == dev2.payload_bits[0]
    assert rounds.uplink_attempted_bits.iloc[1] == dev2.payload_bits.sum()
    assert rounds.uplink_delivered_bits.iloc[1] == dev2.payload_bits[0]
    assert rounds.uplink_bits.iloc[1] == pytest.approx(dev2.payload_bits[0] + on_air, abs=1.0)
    assert rounds.round_s.iloc[1] == pytest.approx(deadline, abs=TIME_TOL_S)
    assert rounds.dropped_deadline.iloc[1] == 1


def _still_link():
    from fedwireless.sim.engine import LinkSettings

    return LinkSettings(correlated=False, step_s=0.1, packet_errors=False, waterfall_m=1.0)


def _engine_world(count: int = 3):
    from fedwireless.rng import Streams
    from fedwireless.scenario import validate
    from fedwireless.sim.world import World

    sc = scenario()
    sc["devices"][0]["count"] = count
    sc["devices"][0]["placement"] = {"kind": "explicit", "positions_m": [[100.0, 0.0]] * count}
    world = World.from_scenario(validate(sc), Streams(3))
    world.start_round()
    return world


def _play(device: int, bandwidth_hz: float, power_w: float = POWER_W, bits: int = 400_000):
    from fedwireless.sim.engine import DevicePlan

    return DevicePlan(device=device, cell=0, power_w=power_w, bandwidth_hz=bandwidth_hz, downlink_bits=0,
                       uplink_bits=bits, flops=0.0, flops_per_s=FLOPS_PER_S, compute_power_w=0.0,
                       circuit_power_w=CIRCUIT_W, downlink_s=0.0)  # fmt: skip


def test_no_band_or_no_power_is_no_link_and_takes_no_band(tmp_path):
    """A device given no bandwidth or no power sends nothing (`no-link`, no airtime) and leaves the cell's
    band to the others: the one real upload takes exactly its Shannon airtime."""
    import numpy as np

    from fedwireless.sim.engine import run_round
    from fedwireless.sim.server import SyncServer

    world = _engine_world()
    plays = [_play(0, 0.0), _play(1, BANDWIDTH_HZ, power_w=0.0), _play(2, 5e6)]
    gain = float(world.gain_lin()[2])
    rate = 5e6 * math.log2(1 + POWER_W * gain / (float(world.uplink_noise_psd()[2]) * 5e6))
    duration, plays = run_round(world, plays, SyncServer(100.0), _still_link(), np.random.default_rng(0))
    assert [p.drop_reason for p in plays] == ["no-link", "no-link", ""]
    assert plays[0].upload_s == plays[1].upload_s == 0.0 and plays[0].tx_energy_j == plays[1].tx_energy_j == 0.0
    assert plays[2].arrived and plays[2].arrival_s == pytest.approx(400_000 / rate, rel=1e-9)
    assert duration == pytest.approx(400_000 / rate, rel=1e-9)


def test_a_cells_band_is_shared_first_come_first_served():
    """Two uploads that each want the cell's whole 5 MHz: the second waits for the first to give it back."""
    import numpy as np

    from fedwireless.sim.engine import run_round
    from fedwireless.sim.server import SyncServer

    world = _engine_world(2)
    plays = [_play(0, 5e6), _play(1, 5e6)]
    _, plays = run_round(world, plays, SyncServer(100.0), _still_link(), np.random.default_rng(0))
    first = plays[0].arrival_s
    assert plays[1].upload_start_s == pytest.approx(first, rel=1e-12)
    assert plays[1].arrival_s == pytest.approx(2 * first, rel=1e-9)  # same place, same gain: same airtime


def test_a_correlated_channel_counts_the_chunk_the_deadline_cut():
    """With a channel that moves during the round the upload goes out in coherence-step chunks; the deadline
    falls inside the fourth one, and the bits on air are rate × the whole airtime, the cut chunk's share too."""
    import numpy as np

    from fedwireless.sim.engine import LinkSettings, run_round
    from fedwireless.sim.server import SyncServer

    world = _engine_world(1)
    gain = float(world.gain_lin()[0])  # no fading, no shadowing, no motion: the gain holds in every chunk
    rate = BANDWIDTH_HZ * math.log2(1 + POWER_W * gain / (float(world.uplink_noise_psd()[0]) * BANDWIDTH_HZ))
    link = LinkSettings(correlated=True, step_s=0.1, packet_errors=False, waterfall_m=1.0)
    deadline = 0.35
    plan = _play(0, BANDWIDTH_HZ, bits=int(10 * rate * deadline))
    duration, (out,) = run_round(world, [plan], SyncServer(deadline), link, np.random.default_rng(0))
    assert duration == pytest.approx(deadline, abs=TIME_TOL_S) and out.drop_reason == "deadline"
    assert out.upload_s == pytest.approx(deadline, abs=TIME_TOL_S)
    assert out.bits_sent == pytest.approx(rate * deadline, rel=1e-9)
    assert out.delivered_bits == 0
