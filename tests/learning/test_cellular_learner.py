"""Cellular rows + TLMs through the co-simulator: files, metrics, the paper's compression ratio, downlink coding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fedwireless.cellular.source import area_partition
from fedwireless.cellular.tokenize import TabularTokenizer
from fedwireless.rng import Streams
from fedwireless.scenario import load_scenario
from fedwireless.sim.loop import build_learner
from fedwireless.sim.run import run_scenario

from ..conftest import TINY

REPO = Path(__file__).resolve().parents[2]
TLM = REPO / "scenarios" / "tlm-v2x.yaml"
SIZE0_PARAMS = 409_472
# Container headers and the closed-loop downlink's first (all-zero) difference: `none` stays within this
# of the paper's uncompressed denominator.
NONE_RATIO_SLACK = 0.01


def tlm(**extra):
    return load_scenario(TLM, {**TINY, "rounds": 2, "output.plots": False, "deadline_s": 600, **extra})


def run(tmp_path: Path, name: str, **extra) -> tuple[dict, Path]:
    out = tmp_path / name
    return run_scenario(tlm(**extra), out), out


def test_uncompressed_run_files_metrics_and_ratio(tmp_path):
    summary, out = run(tmp_path, "none", **{"federated.codec": {"name": "none"}})
    assert summary["model_params"] == SIZE0_PARAMS
    assert summary["device_area"] == ["Residential", "Park", "Avenue", "Highway", "Tunnel"]
    assert summary["metric_tokens"].startswith("span")
    for key in ("final_perplexity", "final_span_accuracy", "final_all_tokens_accuracy", "compression_ratio"):
        assert np.isfinite(summary[key]), key
    rounds = pd.read_csv(out / "rounds.csv")
    assert (rounds["accuracy"] == rounds["span_accuracy"]).all()
    assert np.allclose(rounds["perplexity"], np.exp(rounds["loss"]))
    # The paper's ratio recomputed from the tables: every trained client's upload plus one broadcast each.
    devices = pd.read_csv(out / "devices.csv")
    trained = devices[devices["module"] != "skip"]
    numerator = trained["payload_bits"].sum() + rounds["downlink_bits"].sum()
    ratio = numerator / (2 * len(trained) * 32 * SIZE0_PARAMS)
    assert summary["compression_ratio"] == pytest.approx(ratio, rel=1e-12)
    assert 1.0 <= summary["compression_ratio"] <= 1.0 + NONE_RATIO_SLACK
    # The tokenizer is saved with the run and reproduces the row texts.
    tok = TabularTokenizer.load(out / "tokenizer.model")
    text = "speed_kmh = 31 cell_id = 0 rsrp_dbm = -108 rsrq_db = -17 sinr_db = -5 --> datarate_mbps = 12"
    assert tok.decode(tok.encode(text)) == text
    assert summary["tokenizer_pieces"] == tok.vocab_size


def test_nncodec_with_difference_coding_compresses(tmp_path):
    params = {"qp": -38, "difference_coding": True}
    summary, _ = run(tmp_path, "nnc", rounds=1, **{"federated.codec.params": params})
    assert summary["codec"] == "nncodec"
    assert summary["compression_ratio"] < 0.5
    assert np.isfinite(summary["final_perplexity"])


def test_same_seed_same_files(tmp_path):
    summary, a = run(tmp_path, "a", rounds=1)
    _, b = run(tmp_path, "b", rounds=1)
    for f in ("rounds.csv", "devices.csv", "tokenizer.model"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    on_disk = json.loads((a / "summary.json").read_text())
    assert on_disk["compression_ratio"] == summary["compression_ratio"]


def test_closed_loop_downlink_tracks_the_global_model():
    sc = tlm(**{"federated.codec": {"name": "int8"}})
    learner = build_learner(sc, Streams(sc.seed))
    for _ in range(2):
        before = {k: v.clone() for k, v in learner.method.client_view.items()}
        learner.aggregate(learner.train_clients([(d, 0) for d in range(5)]))
        decoded = learner.codec.decode(learner.downlink_payload())
        moved = 0.0
        for k, g in learner.method.global_state.items():
            # Clients' copy moves by exactly what the payload decodes to ...
            assert torch.equal(learner.method.client_view[k], before[k] + decoded[k].to(before[k].dtype)), k
            diff = (g - before[k]).float()
            err = (g - learner.method.client_view[k]).abs().max()
            # ... and ends within int8's half step of the global (step = max|x| / 127), never drifting.
            # (+ float32 rounding of the additions at the weights' own magnitude)
            rounding = 4 * torch.finfo(torch.float32).eps * float(g.abs().max())
            assert err <= diff.abs().max() / 254 * (1 + 1e-5) + rounding, k
            moved = max(moved, float(diff.abs().max()))
        assert moved > 0  # the round changed the model, so the check above was not vacuous


def test_area_partition_maps_groups_to_areas():
    areas = ("Residential", "Park", "Avenue")
    train_area = np.repeat(np.arange(3), [10, 8, 6])
    parts, names = area_partition(train_area, areas, ["park", "x", "x", "AVENUE"], np.random.default_rng(0))
    # Named groups take their area; others go round-robin by device index (1 -> Park, 2 -> Avenue).
    assert names == ["Park", "Park", "Avenue", "Avenue"]
    for rows, name in zip(parts, names):
        assert (train_area[rows] == areas.index(name)).all()
    assert not set(parts[0]) & set(parts[1]) and len(parts[0]) + len(parts[1]) == 8
    assert len(parts[2]) + len(parts[3]) == 6


def test_tlm_dropout_reaches_the_model_and_runs_repeat(tmp_path):
    """task.model.dropout builds the TLM with llama2.c's dropout (attention weights and three hooked outputs), and
    two learners with the same seed still train to identical weights (masks from the run's own streams)."""
    sc = tlm(**{"federated.codec": {"name": "none"}, "task.model.dropout": 0.1, "task.local_steps": 2})
    states = []
    for _ in range(2):
        learner = build_learner(sc, Streams(sc.seed))
        model = learner.data.model
        assert model.config.attention_dropout == 0.1
        hooked = [m for m in model.modules() if m._forward_hooks]
        assert len(hooked) == 1 + 2 * model.config.num_hidden_layers
        learner.aggregate(learner.train_clients([(d, 0) for d in range(5)]))
        states.append({k: v.clone() for k, v in learner.method.global_state.items()})
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    undropped = build_learner(tlm(**{"federated.codec": {"name": "none"}, "task.local_steps": 2}), Streams(sc.seed))
    undropped.aggregate(undropped.train_clients([(d, 0) for d in range(5)]))
    assert any(not torch.equal(states[0][k], undropped.method.global_state[k]) for k in states[0])
