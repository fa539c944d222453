"""Energy in the result files adds up: devices to rounds to the summary, each device's compute and transmit
energy from its own figures, and the virtual energy queue from the recorded energies and budgets."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from fedwireless.cli import main

J_PER_FLOP = 5e-11
CIRCUIT_W = 0.1
BUDGET_J = 0.02
DEADLINE_S = 0.25


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("energy"))


def _run(tmp_path, policy: dict | None = None, deadline_s: float = 2.0):
    sc = {
        "name": "energy",
        "seed": 4,
        "rounds": 8,
        "deadline_s": deadline_s,
        "devices": [
            {
                "count": 8,
                "placement": {"kind": "annulus", "inner_radius_m": 50, "outer_radius_m": 600},
                "compute": {"flops_per_s": 2e10, "j_per_flop": J_PER_FLOP},
                "circuit_power_w": CIRCUIT_W,
                "energy_budget_j": BUDGET_J,
            },
        ],  # fmt: skip
        "channel": {"packet_errors": {"enabled": True}},
        "federated": {"ranks": [4, 8]},
        "policy": policy or {"name": "lyapunov", "params": {"V": 5.0}},
        "surrogate": {},
        "output": {"plots": False},
    }
    path = tmp_path / "energy.yaml"
    path.write_text(yaml.safe_dump(sc), encoding="utf-8")
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    out = tmp_path / "out"
    return (
        pd.read_csv(out / "rounds.csv"),
        pd.read_csv(out / "devices.csv"),
        json.loads((out / "summary.json").read_text()),
    )


def test_energy_adds_up_and_queues_follow_their_formula(played):
    rounds, devices, summary = played
    trained = devices[devices["flops"] > 0]
    assert len(trained) >= 8 and devices["arrived"].astype(bool).any()
    # Each device: compute energy is its FLOPs at the group's J/FLOP (when its training ran to the end);
    # transmit energy is (radiated + circuit power) × airtime; the two make its energy.
    finished = trained[trained["arrived"].astype(bool)]
    np.testing.assert_allclose(finished["compute_energy_j"], finished["flops"] * J_PER_FLOP, rtol=1e-9)
    np.testing.assert_allclose(
        finished["tx_energy_j"], (finished["power_w"] + CIRCUIT_W) * finished["upload_s"], rtol=1e-9
    )
    np.testing.assert_allclose(devices["energy_j"], devices["compute_energy_j"] + devices["tx_energy_j"], rtol=1e-12)
    assert (devices.loc[devices["flops"] == 0, "energy_j"] == 0).all()
    # Devices sum to rounds, rounds to the summary.
    by_round = devices.groupby("round")[["energy_j", "compute_energy_j", "tx_energy_j"]].sum()
    played = rounds.set_index("round").loc[by_round.index]
    for col in ("energy_j", "compute_energy_j", "tx_energy_j"):
        np.testing.assert_allclose(played[col], by_round[col], rtol=1e-9, atol=1e-15)
    assert summary["total_energy_j"] == pytest.approx(rounds["energy_j"].iloc[1:].sum(), rel=1e-9)
    assert summary["total_tx_energy_j"] == pytest.approx(rounds["tx_energy_j"].iloc[1:].sum(), rel=1e-9)
    # queue is Q_k before the round: Q_k(1) = 0, Q_k(t+1) = max(Q_k(t) + E_k(t) − Ē_k, 0).
    for _, dev in devices.sort_values("round").groupby("device"):
        q, e = dev["queue"].to_numpy(), dev["energy_j"].to_numpy()
        assert q[0] == 0.0
        np.testing.assert_allclose(q[1:], np.maximum(q[:-1] + e[:-1] - BUDGET_J, 0.0), rtol=1e-9, atol=1e-15)
    assert devices["queue"].max() > 0  # the budget binds somewhere, so the check has teeth
    assert (devices["energy_budget_j"] == BUDGET_J).all()


def test_uplink_bits_attempted_on_air_and_delivered_add_up(tmp_path):
    """Every selected upload's payload is attempted; its bits on air are the whole payload once it arrived
    (packet error or not) and part of it when the deadline cut it; only arrived updates are delivered."""
    # Every device at p_max on an equal share, against a deadline the far ones miss.
    rounds, devices, summary = _run(tmp_path, {"name": "uniform"}, deadline_s=DEADLINE_S)
    dev = devices[devices["flops"] > 0]
    reason = dev["drop_reason"].fillna("")
    arrived = dev["arrived"].astype(bool)
    assert arrived.any() and (reason == "deadline").any() and (reason == "packet-error").any()
    assert (dev["payload_bits"] >= dev["uplink_bits"]).all() and (dev["uplink_bits"] >= dev["delivered_bits"]).all()
    crossed = arrived | (reason == "packet-error")
    assert (dev.loc[crossed, "uplink_bits"] == dev.loc[crossed, "payload_bits"]).all()
    assert (dev.loc[arrived, "delivered_bits"] == dev.loc[arrived, "payload_bits"]).all()
    assert (dev.loc[~arrived, "delivered_bits"] == 0).all()
    cut = dev[(reason == "deadline") & (dev["upload_s"] > 0)]
    assert len(cut) and (cut["uplink_bits"] > 0).all() and (cut["uplink_bits"] < cut["payload_bits"]).all()
    assert (devices.loc[devices["flops"] == 0, ["payload_bits", "uplink_bits", "delivered_bits"]] == 0).all().all()
    sums = devices.groupby("round")[["payload_bits", "uplink_bits", "delivered_bits"]].sum()
    by_round = rounds.set_index("round").loc[sums.index]
    # The round sums the exact on-air bits before rounding; each device row rounds its own.
    assert (by_round["uplink_bits"] - sums["uplink_bits"]).abs().max() <= len(devices["device"].unique())
    assert (by_round["uplink_attempted_bits"] == sums["payload_bits"]).all()
    assert (by_round["uplink_delivered_bits"] == sums["delivered_bits"]).all()
    assert (rounds["uplink_attempted_bits"] >= rounds["uplink_bits"]).all()
    assert (rounds["uplink_bits"] >= rounds["uplink_delivered_bits"]).all()
    for col, key in (("uplink_bits", "total_uplink_bits"), ("uplink_attempted_bits", "total_uplink_attempted_bits"),
                     ("uplink_delivered_bits", "total_uplink_delivered_bits")):  # fmt: skip
        assert summary[key] == rounds[col].iloc[1:].sum()
