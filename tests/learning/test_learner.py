"""The Learner facade: cached base, determinism, order independence, local model directories."""

from __future__ import annotations

import numpy as np
import pytest

from fedwireless.learning.config import TaskConfig
from fedwireless.learning.federated_config import FederatedConfig
from fedwireless.learning.learner import Learner

TASK = TaskConfig.model_validate(
    {
        "model": {
            "hidden_size": 16,
            "num_layers": 1,
            "num_heads": 2,
            "num_kv_heads": 1,
            "intermediate_size": 32,
            "max_seq_len": 16,
        },
        "pretrain": {"steps": 10},
        "dataset": {"num_train": 120, "num_test": 40, "num_public": 60},
        "local_steps": 2,
        "batch_size": 8,
    }
)


def learner(tmp_path, federated=None, task=TASK, seed=7):
    fed = federated or FederatedConfig(ranks=[2, 4], aggregation="hetlora")
    return Learner(task, fed, 4, ["a", "a", "b", "b"], np.random.SeedSequence(seed), cache_dir=tmp_path)


def test_base_is_cached(tmp_path):
    assert learner(tmp_path).data.info["base_cache"] == "miss"
    assert learner(tmp_path).data.info["base_cache"] == "hit"


def test_same_seeds_same_bytes_any_order(tmp_path):
    a, b = learner(tmp_path), learner(tmp_path)
    ua = a.train_clients([(0, 2), (3, 4)])
    ub = b.train_clients([(3, 4), (0, 2)])
    assert {u.device: u.payload for u in ua} == {u.device: u.payload for u in ub}
    assert ua[0].flops == pytest.approx(a.expected_flops(2)[0], rel=0.25)
    assert 8 * len(ua[1].payload) == a.expected_payload_bits(4)
    a.aggregate(ua)
    b.aggregate(ub)
    assert a.evaluate() == b.evaluate()


@pytest.mark.parametrize("method", ["fedavg", "hetlora", "flexlora", "flora"])
def test_every_aggregation_runs_with_mixed_ranks(tmp_path, method):
    lr = learner(tmp_path, FederatedConfig(ranks=[2, 4], aggregation=method))
    before = lr.evaluate()
    for _ in range(2):
        ups = lr.train_clients([(0, 2), (1, 4), (2, 4)])
        lr.aggregate(ups)
    after = lr.evaluate()
    assert set(after) == {"accuracy", "loss", "macro_f1", "balanced_accuracy", "majority_baseline"}
    assert np.isfinite(after["loss"])
    assert after != before  # the global model moved
    assert len(lr.downlink_payload()) > 0


def test_full_parameter_training_sends_differences(tmp_path):
    lr = learner(tmp_path, FederatedConfig(training="full"))
    ups = lr.train_clients([(0, 0), (1, 0)])
    assert all(len(u.payload) * 8 == lr.expected_payload_bits(0) for u in ups)
    lr.aggregate(ups)
    assert np.isfinite(lr.evaluate()["loss"])


def test_lossy_codec_payload_is_smaller(tmp_path):
    raw = learner(tmp_path).train_clients([(0, 4)])[0]
    q = learner(tmp_path, FederatedConfig(ranks=[2, 4], codec={"name": "int8"})).train_clients([(0, 4)])[0]
    assert len(q.payload) < len(raw.payload)  # the JSON header dominates at this tiny size


def test_local_model_directory(tmp_path):
    first = learner(tmp_path)
    task = TaskConfig.model_validate(
        {
            **TASK.model_dump(),
            "model": {**TASK.model.model_dump(), "source": "local", "path": str(first.data.base_dir)},
        }
    )
    local = learner(tmp_path, task=task)
    assert local.data.info["base_cache"] == "local"
    assert local.data.tokenizer.vocab == first.data.tokenizer.vocab
    missing = TaskConfig.model_validate(
        {
            **TASK.model_dump(),
            "model": {**TASK.model.model_dump(), "source": "local", "path": str(tmp_path / "x")},
        }
    )
    with pytest.raises(FileNotFoundError, match="task.model.path"):
        learner(tmp_path, task=missing)


@pytest.mark.parametrize("method", ["fedavg", "hetlora"])
def test_only_small_ranks_arriving_keeps_the_global_at_full_rank(tmp_path, method):
    lr = learner(tmp_path, FederatedConfig(ranks=[2, 4], aggregation=method))
    lr.aggregate(lr.train_clients([(0, 2), (1, 2)]))
    assert np.isfinite(lr.evaluate()["loss"])
    assert all(v.shape[0] == 4 for k, v in lr.method.global_state.items() if k.endswith("lora_A.weight"))


def test_causal_lm_task_reports_token_accuracy_and_perplexity(tmp_path):
    task = TaskConfig.model_validate({**TASK.model_dump(), "kind": "causal-lm"})
    lr = learner(tmp_path, FederatedConfig(ranks=[4]), task=task)
    before = lr.evaluate()
    assert set(before) == {"accuracy", "loss", "perplexity"}
    assert before["perplexity"] == pytest.approx(np.exp(before["loss"]))
    for _ in range(3):
        lr.aggregate(lr.train_clients([(0, 4), (1, 4)]))
    assert lr.evaluate()["loss"] < before["loss"]


def test_nncodec_payload_crosses_the_uplink(tmp_path):
    lr = learner(tmp_path, FederatedConfig(ranks=[4], codec={"name": "nncodec", "params": {"qp": -38}}))
    raw = learner(tmp_path, FederatedConfig(ranks=[4])).train_clients([(0, 4)])[0]
    ups = lr.train_clients([(0, 4), (1, 4)])
    assert all(len(u.payload) < len(raw.payload) for u in ups)
    lr.aggregate(ups)
    assert np.isfinite(lr.evaluate()["loss"])


def test_surrogate_charges_the_learners_flops_and_payload(tmp_path):
    """One counting function for both: parameters counted from the config equal those of the built model."""
    from fedwireless.scenario import validate
    from fedwireless.surrogate import SurrogateLearner

    fed = FederatedConfig(ranks=[2, 4], aggregation="hetlora", target_modules=["q_proj", "k_proj", "v_proj"])
    real = learner(tmp_path, federated=fed)
    sc = validate(
        {
            "devices": [{"count": 4}],
            "task": TASK.model_dump(),
            "federated": fed.model_dump(),
            "surrogate": {},
        }
    )
    rngs = np.random.default_rng(0), np.random.default_rng(1)
    sur = SurrogateLearner(sc.surrogate, sc.task, sc.federated, sc.num_devices, *rngs)
    seq, bs = TASK.model.max_seq_len, TASK.batch_size
    for r in (2, 4):  # the surrogate has no texts: it counts full-length batches, an upper bound of the learner's
        full = [real.local_steps(d) * real.step_flops(r, bs, seq, d) for d in range(4)]
        assert np.all(sur.expected_flops(r) == full)
        assert np.all(real.expected_flops(r) < sur.expected_flops(r))
        assert sur.adapter_params(r) == real.method.trainable_count(r)
        assert abs(sur.expected_payload_bits(r) - real.expected_payload_bits(r)) <= 8 * 2048  # framing only


def test_rank_residuals_come_from_the_aggregated_spectrum(tmp_path):
    a = learner(tmp_path)
    assert a.rank_residuals() is None
    a.aggregate(a.train_clients([(0, 2), (1, 4), (2, 4)]))
    eps = a.rank_residuals()
    assert set(eps) == {2, 4}
    # Σ_k p_k B_k A_k over clients in different subspaces has rank up to Σ r_k, so ε(4) is small, not 0.
    assert 0.0 <= eps[4] < eps[2] < 1.0


def test_temporal_context_codec_gets_one_instance_per_sender(tmp_path):
    codec = {"name": "nncodec", "params": {"qp": -30, "temporal_context": True}}
    lr = learner(tmp_path, FederatedConfig(training="full", codec=codec))
    for _ in range(2):
        ups = lr.train_clients([(0, 0), (1, 0)])
        lr.aggregate(ups)
    inner = [getattr(s, "codec", s) for s in (lr._senders[0], lr._senders[1])]
    assert inner[0] is not inner[1] and inner[0] is not lr.codec and all(c.stateful for c in inner)
    assert np.isfinite(lr.evaluate()["loss"])
    # Sizing payloads between rounds leaves every sender's context alone: a twin that never sizes sends the
    # same bytes in the next round.
    twin = learner(tmp_path, FederatedConfig(training="full", codec=codec))
    for _ in range(2):
        twin.aggregate(twin.train_clients([(0, 0), (1, 0)]))
    sizes = {lr.expected_payload_bits(0) for _ in range(3)}
    assert len(sizes) == 1 and sizes.pop() > 0
    assert [u.payload for u in lr.train_clients([(0, 0), (1, 0)])] == [
        u.payload for u in twin.train_clients([(0, 0), (1, 0)])
    ]


def test_sentencepiece_base_reused_as_a_local_model(tmp_path):
    task = TaskConfig.model_validate({**TASK.model_dump(), "tokenizer": {"kind": "sentencepiece", "vocab_size": 60}})
    first = learner(tmp_path, task=task)
    assert "tokenizer.model" in first.artifacts() and (first.data.base_dir / "tokenizer.model").is_file()
    local = TaskConfig.model_validate(
        {**task.model_dump(), "model": {**task.model.model_dump(), "source": "local", "path": str(first.data.base_dir)}}
    )
    again = learner(tmp_path, task=local)
    assert again.data.tokenizer.describe()["kind"] == "sentencepiece"
    assert np.array_equal(again.data.train_ids, first.data.train_ids)


@pytest.mark.parametrize("batch_clients", [True, False])
def test_planned_flops_are_what_training_charges(tmp_path, batch_clients):
    """Policies plan a round with `next_round_flops`; training then draws the same batches (texts of
    different lengths, each batch padded to its longest) and charges exactly those FLOPs, round after round."""
    lr = learner(tmp_path, FederatedConfig(ranks=[2, 4], aggregation="hetlora", batch_clients=batch_clients))
    lengths = lr.data.train_mask.sum(axis=1)
    assert lengths.min() < lengths.max()  # the batches' widths really differ
    rounds = []
    for _ in range(3):
        planned = {r: lr.next_round_flops(r) for r in (2, 4)}
        rounds.append(planned[2])
        ups = lr.train_clients([(0, 2), (1, 4), (3, 4)])
        for u in ups:
            assert u.flops == planned[u.rank][u.device]
        lr.aggregate(ups)
    assert len({tuple(f) for f in rounds}) > 1  # each round's own batches, not one figure for all
    # A batch padded to its longest costs at most one padded to max_seq_len.
    assert np.all(planned[4] <= lr.local_steps(0) * np.array([lr.step_flops(4, 8, 16, d) for d in range(4)]))


@pytest.mark.parametrize("batch_clients", [True, False])
def test_a_client_without_rows_costs_nothing_and_the_others_still_train(tmp_path, batch_clients):
    lr = learner(tmp_path, FederatedConfig(ranks=[2], batch_clients=batch_clients))
    lr.data.parts[0] = np.array([], dtype=np.int64)  # e.g. a Dirichlet partition that left it nothing
    assert lr.next_round_flops(2)[0] == 0.0
    empty, other = lr.train_clients([(0, 2), (1, 2)])
    assert empty.flops == 0.0 and empty.num_samples == 0
    assert other.flops > 0 and other.num_samples == len(lr.data.parts[1])


def test_step_flops_by_hand_and_against_torchs_flop_counter(tmp_path):
    """One LoRA step of a 1-layer Llama (h 16, grouped-query k/v of 8, MLP 32, 2 labels, rank 4 on q and v),
    counted by hand from the shapes. torch's FlopCounterMode sees the weights' matrix products (it does not
    count the CPU attention kernel) and matches the hand count exactly; ours is Kaplan et al.'s, which also
    charges the input gradient of the layer-0 projections that read the frozen embeddings (autograd skips it)."""
    from ..conftest import counted_step

    lr = learner(tmp_path, FederatedConfig(ranks=[4], target_modules=["q_proj", "v_proj"]))
    rows, width, measured = counted_step(lr, 4)
    t = rows * width
    body = 16 * 16 + 16 * 8 + 16 * 8 + 16 * 16 + 3 * 16 * 32  # q, k, v, o, gate/up/down: 2304
    score = 16 * 2  # on every position (the last real one is read)
    lora = 4 * (16 + 16) + 4 * (16 + 8)  # 224
    reads_embeddings = 16 * 16 + 2 * 16 * 8 + 2 * 4 * 16  # q, k, v and the two A matrices of layer 0
    forward = 2 * t * (body + score + lora)
    input_grads = 2 * t * (body + score + lora - reads_embeddings)
    weight_grads = 2 * t * (lora + score)
    assert measured == forward + input_grads + weight_grads
    attention = 12 * 16 * rows * width * (width + 1) / 2  # causal pairs of each text, 1 layer
    assert (
        lr.step_flops(4, rows, width, 0) == forward + input_grads + weight_grads + 2 * t * reads_embeddings + attention
    )


def test_the_built_in_bases_fresh_head_starts_at_zero(tmp_path):
    """Round 0 is a constant prediction: both labels get the same logit, so the test loss is ln 2 exactly and
    the accuracy is the share of the label argmax breaks ties to."""
    lr = learner(tmp_path, FederatedConfig(ranks=[4]))
    head = [p for n, p in lr.method.model.named_parameters() if "score" in n and "modules_to_save" in n]
    assert head and all(float(p.abs().max()) == 0.0 for p in head)
    metrics = lr.evaluate()
    assert metrics["loss"] == pytest.approx(np.log(2), abs=1e-6)
    assert metrics["accuracy"] == pytest.approx(float(np.mean(lr.data.test_labels == 0)), abs=1e-9)


def test_a_cache_entry_is_built_once_while_others_wait(tmp_path):
    """`building` serialises builders of one cache entry: a second builder enters only after the first has
    written it (so it finds the entry), while a builder of another entry does not wait."""
    import threading
    import time

    from fedwireless.learning.models import building

    target, other = tmp_path / "base-models" / "k1", tmp_path / "base-models" / "k2"
    inside, seen = threading.Event(), {}

    def first():
        with building(target):
            inside.set()
            time.sleep(0.5)
            target.mkdir(parents=True)

    thread = threading.Thread(target=first)
    thread.start()
    inside.wait()
    start = time.perf_counter()
    with building(other):
        seen["other_wait"] = time.perf_counter() - start
    with building(target):
        seen["found"] = target.is_dir()
    thread.join()
    assert seen["found"] and seen["other_wait"] < 0.25
    assert sorted(p.name for p in (tmp_path / "base-models").iterdir()) == ["k1"]  # no lock files among entries
