"""Personalized fine-tuning (PWFF): what leaves the device, what the server averages, the loss and its parts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fedwireless.codecs import make_codec
from fedwireless.learning.attention import window_mask
from fedwireless.learning.config import TaskConfig
from fedwireless.learning.federated_config import FederatedConfig
from fedwireless.learning.flops import attention_pairs, attention_step_flops
from fedwireless.learning.instructions import TOPICS, generate_instructions, read_instructions, response_span
from fedwireless.learning.learner import Learner

TASK = TaskConfig.model_validate(
    {
        "kind": "causal-lm",
        "model": {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "num_kv_heads": 1, "intermediate_size": 32,
                  "max_seq_len": 32},
        "pretrain": {"steps": 10},
        "dataset": {"name": "instructions", "num_train": 120, "num_test": 40, "num_public": 200},
        "local_steps": 2,
        "batch_size": 8,
    }
)  # fmt: skip


def _learner(tmp_path, **pwff):
    fed = FederatedConfig(ranks=[2], training="pwff", pwff={"reward_steps": 20, "adapter_size": 4, **pwff})
    return Learner(TASK, fed, 4, ["a", "a", "b", "b"], np.random.SeedSequence(5), cache_dir=tmp_path,
                   device_preferences=[0.9, 0.9, 0.1, 0.1])  # fmt: skip


def test_personal_lora_never_leaves_the_device_and_aggregation_touches_only_the_global_part(tmp_path):
    lr = _learner(tmp_path)
    m = lr.method
    assert m.global_keys and all(".adapter_" in k for k in m.global_keys)
    ups = lr.train_clients([(0, 2), (2, 2)])
    codec = make_codec("none", {})
    for u in ups:
        sent = codec.decode(u.payload)
        assert set(sent) == set(m.global_keys) and not any("lora_" in k for k in sent)
        # The bytes are exactly the coded Δ of the global part: nothing else rides along.
        assert u.payload == codec.encode({k: (u.state[k] - m.init[k]).float() for k in m.global_keys})
    personal_before = {d: {k: v.clone() for k, v in m.personal[d].items()} for d in (0, 2)}
    assert all("lora_" in k for k in personal_before[0]) and personal_before[0]
    # The two devices' personal LoRA differ after training (their own data and reward weights).
    k0 = next(iter(personal_before[0]))
    assert not torch.equal(personal_before[0][k0], personal_before[2][k0])
    lr.aggregate(ups)
    w = np.array([u.num_samples for u in ups], dtype=float)
    w /= w.sum()
    for k in m.global_keys:
        assert torch.allclose(m.global_state[k], w[0] * ups[0].state[k] + w[1] * ups[1].state[k], atol=1e-6)
    for d in (0, 2):  # aggregation leaves the personal parts alone
        assert all(torch.equal(m.personal[d][k], personal_before[d][k]) for k in personal_before[d])
    # FedAvg of everything sends the LoRA too: the payload grows by the LoRA share.
    both = _learner(tmp_path, global_modules=["adapter", "lora"])
    lora_params = sum(v.numel() for k, v in both.method.init.items() if "lora_" in k)
    assert lora_params > 0
    assert both.expected_payload_bits(2) > lr.expected_payload_bits(2)
    assert both.method.info()["pwff_global_params"] - m.info()["pwff_global_params"] == lora_params


def test_local_only_sends_nothing(tmp_path):
    lr = _learner(tmp_path, global_modules=[])
    ups = lr.train_clients([(1, 2)])
    assert ups[0].payload == b"" and lr.expected_payload_bits(2) == 0 and lr.downlink_payload() == b""


def test_proximal_gradient_is_two_mu_times_the_distance(tmp_path):
    lr = _learner(tmp_path, mu=0.3)
    m = lr.method
    m.client_start(0, 2, 1)
    with torch.no_grad():
        for k in m.global_keys:
            m.params[k].add_(torch.randn_like(m.params[k]) * 0.1)
    for p in m.params.values():
        p.grad = None
    m.proximal().backward()
    for k in m.global_keys:
        expected = 2 * 0.3 * (m.params[k].detach() - m.global_state[k])
        assert torch.allclose(m.params[k].grad, expected, atol=1e-6)
    assert all(m.params[k].grad is None for k in m.params if k not in m.global_keys)  # personal: no pull


def test_reward_weights_follow_each_devices_preference(tmp_path):
    lr = _learner(tmp_path)
    m, d = lr.method, lr.data
    for dev in (0, 3):
        rows = d.parts[dev]
        expected = m.reward(d.train_ids[rows], d.train_mask[rows], m.preference[dev])
        assert np.allclose(m.row_weight[rows], expected)
    trained = np.concatenate(d.parts)
    assert ((m.row_weight[trained] > 0) & (m.row_weight[trained] < 1)).all()
    assert (_learner(tmp_path, reward_weighting=False).method.row_weight == 1).all()
    # The weighted loss is the rows' reward-weighted response likelihood (+ the proximal term, zero at start).
    batch = lr.client_batches(0, 2)[0]
    m.client_start(0, 2, 1)
    loss = m.local_loss(lr.client_loss, 0)(m.model, batch)
    logits = m.model(input_ids=batch[0], attention_mask=batch[1]).logits
    nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), batch[0][:, 1:], reduction="none")
    span = batch[3][:, 1:].float()
    per_row = (nll * span).sum(1) / span.sum(1)
    w = torch.from_numpy(m.row_weight[batch[-1].numpy()]).float()
    assert loss.item() == pytest.approx((w * per_row).mean().item(), rel=1e-5)


def test_reward_models_are_cached_and_deterministic(tmp_path):
    first = _learner(tmp_path).method
    cached = list((tmp_path / "reward-models").iterdir())
    assert len(cached) == 2  # helpfulness and safety
    again = _learner(tmp_path).method
    d = first.data
    rows = np.arange(20)
    assert np.array_equal(first.reward(d.train_ids[rows], d.train_mask[rows], 0.5),
                          again.reward(d.train_ids[rows], d.train_mask[rows], 0.5))  # fmt: skip
    assert sorted((tmp_path / "reward-models").iterdir()) == sorted(cached)  # read back, not retrained
    # The reward models learned their labels on the public rows (better than chance).
    pub = d.public_rows
    ids, mask, _ = d.tokenizer.encode(pub.texts, TASK.model.max_seq_len)
    help_score = first.reward(ids, mask, 1.0)
    assert np.mean((help_score > 0.5) == (pub.helpful == 1)) > 0.6


def test_sliding_window_masks_what_it_should_and_flops_follow_the_pattern():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                      num_key_value_heads=2, intermediate_size=32, max_position_embeddings=32)  # fmt: skip
    model = LlamaForCausalLM(cfg).eval()
    ids = torch.randint(4, 40, (1, 10))
    mask = torch.ones(1, 10, dtype=torch.long)
    pattern = window_mask(mask, 3)
    assert pattern.shape == (1, 1, 10, 10)
    assert pattern[0, 0, 5].tolist() == [False] * 3 + [True] * 3 + [False] * 4  # keys 3, 4, 5
    changed = ids.clone()
    changed[0, 2] = 5 if ids[0, 2] != 5 else 6
    with torch.no_grad():
        a = model(input_ids=ids, attention_mask=pattern).logits
        b = model(input_ids=changed, attention_mask=pattern).logits
    moved = (a - b).abs().amax(-1)[0]
    assert (moved[2:5] > 1e-6).all() and (moved[5:] < 1e-6).all()  # one layer: token 2 reaches positions 2–4 only
    # Pairs: Σ min(i + 1, w); dense causal L(L+1)/2.
    assert attention_pairs(5, 2) == 1 + 2 + 2 + 2 + 2 and attention_pairs(5) == 15 and attention_pairs(5, 9) == 15
    assert attention_step_flops(2, 16, 3, 5, 2) == 12 * 2 * 16 * 3 * 9


def test_sparse_attention_lowers_the_counted_flops(tmp_path):
    dense, sparse = _learner(tmp_path), _learner(tmp_path, attention_window=4)
    cfg, seq, bs = TASK.model, TASK.model.max_seq_len, TASK.batch_size
    # Pairs by hand at L = seq, window 4: dense L(L+1)/2, windowed 4·5/2 + (L − 4)·4.
    saved_pairs = seq * (seq + 1) / 2 - (10 + (seq - 4) * 4)
    saved = 12 * cfg.num_layers * cfg.hidden_size * bs * saved_pairs
    assert dense.step_flops(2, bs, seq, 0) - sparse.step_flops(2, bs, seq, 0) == pytest.approx(saved)
    assert np.all(sparse.expected_flops(2) < dense.expected_flops(2))


def test_generated_instructions_and_jsonl_rows(tmp_path):
    rows = generate_instructions(400, np.random.default_rng(0))
    for resp, h, s, t in zip(rows.responses, rows.helpful, rows.safe, rows.topic):
        spec = TOPICS[rows.topics[t]]
        assert any(step in resp for step in spec["steps"]) == bool(h)
        assert any(hz in resp for hz in spec["hazards"]) == (not s)
    assert 0.4 < rows.helpful.mean() < 0.6 and 0.4 < rows.safe.mean() < 0.6
    ids = np.array([[2, 10, 4, 11, 12, 3, 0]])
    mask = (ids > 0).astype(int)
    assert response_span(ids, mask, 4).tolist() == [[0, 0, 0, 1, 1, 1, 0]]
    f = tmp_path / "rows.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in [
        {"prompt": "hi", "response": "hello", "helpful": 1, "safe": 1, "topic": "greeting"},
        {"prompt": "x", "response": "y"},
    ]))  # fmt: skip
    got = read_instructions(f)
    assert got.topics == ("greeting", "general") and got.helpful.tolist() == [1, -1]
    f.write_text('{"prompt": "only a prompt"}\n')
    with pytest.raises(ValueError, match="rows.jsonl:1: an instruction row needs JSON with 'prompt' and 'response'"):
        read_instructions(f)


def test_scenario_rules_for_pwff():
    from fedwireless.scenario import validate

    with pytest.raises(Exception, match="pwff and task.dataset.name: instructions go together"):
        validate({"task": {"kind": "causal-lm"}, "federated": {"training": "pwff"}})
    with pytest.raises(Exception, match="one LoRA rank"):
        validate({"task": {"kind": "causal-lm", "dataset": {"name": "instructions"}},
                  "federated": {"training": "pwff", "ranks": [4, 8]}})  # fmt: skip
    with pytest.raises(Exception, match="global_modules"):
        validate({"federated": {"pwff": {"global_modules": ["adapter", "adapter"]}}})


@pytest.mark.parametrize("global_modules", [["adapter"], []])
def test_a_pwff_run_reports_rewards_and_repeats_itself(tmp_path, global_modules):
    import pandas as pd

    from fedwireless.scenario import validate
    from fedwireless.sim.run import run_scenario

    def scenario():
        return validate({
            "name": "p", "rounds": 2, "deadline_s": 5.0,
            "devices": [{"name": "h", "count": 2, "preference": 0.9}, {"name": "c", "count": 2, "preference": 0.1}],
            "task": {**TASK.model_dump(mode="json"), "pretrain": {"steps": 10, "cache_dir": str(tmp_path / "cache")}},
            "federated": {"ranks": [2], "training": "pwff",
                          "pwff": {"reward_steps": 20, "adapter_size": 4, "global_modules": global_modules,
                                   "eval_prompts": 3, "max_new_tokens": 4}},
            "output": {"plots": False},
        })  # fmt: skip

    summary = run_scenario(scenario(), tmp_path / "a")
    run_scenario(scenario(), tmp_path / "b")
    for table in ("rounds.csv", "devices.csv"):
        assert (tmp_path / "a" / table).read_bytes() == (tmp_path / "b" / table).read_bytes()
    dev = pd.read_csv(tmp_path / "a" / "devices.csv")
    assert dev["eval_reward"].between(0, 1).all() and dev["eval_reward_global"].between(0, 1).all()
    rounds = pd.read_csv(tmp_path / "a" / "rounds.csv").set_index("round")
    assert rounds.loc[2, "reward"] == pytest.approx(dev[dev["round"] == 2]["eval_reward"].mean())
    assert summary["final_reward"] == pytest.approx(rounds.loc[2, "reward"])
    sent = dev[dev["arrived"].astype(bool)]["payload_bits"]
    assert len(sent) and ((sent > 0).all() if global_modules else (sent == 0).all())
    # The compression ratio counts the global part only (uncoded float32 plus tensor names: a little over 1);
    # nothing sent, no ratio.
    if global_modules:
        assert 1.0 < summary["compression_ratio"] < 1.3
    else:
        assert "compression_ratio" not in summary


def test_reward_plot_reads_back_the_last_round(tmp_path):
    import pandas as pd

    from fedwireless.plotting import plot_run

    run = tmp_path / "run"
    run.mkdir()
    rows = [
        {"round": r, "device": d, "group": "g", "energy_j": 1.0, "energy_budget_j": float("nan"),
         "eval_reward": 0.1 * r + 0.01 * d, "eval_reward_global": 0.05 * r}
        for r in (1, 2) for d in range(3)
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(run / "devices.csv", index=False)
    pd.DataFrame([{"round": r, "sim_time_s": r, "accuracy": 0.5, "energy_j": 1.0} for r in (0, 1, 2)]).to_csv(
        run / "rounds.csv", index=False
    )
    assert "device_reward.png" in {p.name for p in plot_run(run)}
    drawn = pd.read_csv(run / "device_reward.csv").set_index("device")
    assert drawn["reward"].tolist() == pytest.approx([0.2, 0.21, 0.22])
    assert drawn["reward_global"].tolist() == pytest.approx([0.1] * 3)


def test_sweep_reward_plot_averages_the_seeds_last_rounds(tmp_path):
    import pandas as pd

    from fedwireless.plotting.common import pyplot
    from fedwireless.plotting.sweep import _device_rewards

    rows = [{"group": g, "point": f"{g}{seed}", "round": r, "device": d,
             "eval_reward": seed + r + d + (10 if g == "b" else 0), "eval_reward_global": seed}
            for g in ("a", "b") for seed in (0, 1) for r in (1, 2) for d in (0, 1)]  # fmt: skip
    _device_rewards(pyplot(), pd.DataFrame(rows), tmp_path)
    drawn = pd.read_csv(tmp_path / "device_reward.csv").set_index(["group", "device"])
    assert drawn.loc[("a", 1), "reward"] == pytest.approx(0.5 + 2 + 1)  # seeds 0 and 1 at round 2
    assert drawn.loc[("b", 0), "reward"] == pytest.approx(12.5) and drawn.loc[("b", 0), "seeds"] == 2
    assert drawn.loc[("a", 0), "reward_global"] == pytest.approx(0.5)


def test_response_span_follows_the_separator_with_sentencepiece(tmp_path):
    from fedwireless.learning.setup import prepare_task

    task = TaskConfig.model_validate({**TASK.model_dump(), "tokenizer": {"kind": "sentencepiece", "vocab_size": 120}})
    data = prepare_task(task, 2, ["a", "b"], np.random.SeedSequence(0), tmp_path)
    sep = data.tokenizer.vocab.index("[SEP]")
    checked = 0
    for ids, mask, span in zip(data.train_ids, data.train_mask, data.train_span):
        real = int(mask.sum())
        if sep not in ids[:real]:
            assert span.sum() == 0  # cut before its response
            continue
        pos = list(ids).index(sep)
        assert span[: pos + 1].sum() == 0 and span[pos + 1 : real].all() and span[real:].sum() == 0
        checked += 1
    assert checked > 0.9 * len(data.train_ids)


def test_windowed_local_loss_uses_the_window(tmp_path):
    lr = _learner(tmp_path, attention_window=3, mu=0.0)
    m = lr.method
    batch = lr.client_batches(0, 2)[0]
    m.client_start(0, 2, 1)
    loss = m.local_loss(lr.client_loss, 0)(m.model, batch).item()

    def weighted(mask):
        logits = m.model(input_ids=batch[0], attention_mask=mask).logits
        nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), batch[0][:, 1:], reduction="none")
        span = batch[3][:, 1:].float()
        w = torch.from_numpy(m.row_weight[batch[-1].numpy()]).float()
        return (w * (nll * span).sum(1) / span.sum(1)).mean().item()

    assert loss == pytest.approx(weighted(window_mask(batch[1], 3)), rel=1e-5)
    assert loss != pytest.approx(weighted(batch[1]), rel=1e-4)  # dense attention gives another loss


def test_reward_models_learn_every_topic_when_the_public_split_keeps_topics_out(tmp_path):
    """public_topics: the base pre-trains on the kept topic only; the reward models train on rows of every topic."""
    task = TASK.model_copy(update={"dataset": TASK.dataset.model_copy(update={"public_topics": ["travel"]})})
    fed = FederatedConfig(ranks=[2], training="pwff", pwff={"reward_steps": 5, "adapter_size": 4})
    learner = Learner(task, fed, 4, ["a", "a", "b", "b"], np.random.SeedSequence(5), cache_dir=tmp_path,
                      device_preferences=[0.9, 0.9, 0.1, 0.1])  # fmt: skip
    d = learner.data
    assert len(np.unique(d.public_rows.topic)) == len(TOPICS)
    vocab = d.tokenizer.vocab
    cooking = [vocab.index(w) for w in ("pasta", "soup", "stove") if w in vocab]  # known from the training rows
    assert cooking and not np.isin(d.public_ids, cooking).any()
    assert np.isin(d.public_ids, [vocab.index("passport")]).any()
