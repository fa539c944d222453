"""A real-size checkpoint as users bring one: a 6-layer × 384 BERT-style encoder with a 30,522-row vocabulary
(the shape of the common MiniLM sentence encoders), built from its config with random weights and saved with
`save_pretrained`, on texts of 5–60 words in GLUE SST-2 form.

Side by side in one run, on the same texts and the same batches:
- fedwireless: one simulated round of 10 clients × 10 local steps × batch 16 (LoRA r = 8 on query/value, the
  head trained), the batched path; and its evaluation of the global model on the test split;
- a plain peft loop written here: each client's 10 AdamW steps one by one, each batch padded to its longest
  text (dynamic padding), gradient clipping, adapter state read back; and a plain `inference_mode` loop over
  the test texts in batches of the same size, each padded to its longest.
Targets: training within 1.2× of the plain loop; evaluation throughput within 1.2× of the plain loop's.

Run: python benchmarks/bench_real_model.py [--rounds 2] [--test 500]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fedwireless.learning.sentiment import sentiment_sentence  # noqa: E402
from fedwireless.scenario import load_scenario  # noqa: E402
from fedwireless.sim.loop import Simulation  # noqa: E402

CLIENTS, STEPS, BATCH, RANK = 10, 10, 16, 8


def texts(n: int, rng: np.random.Generator) -> tuple[list[str], list[int]]:
    """Sentences of 5–60 words: generated sentiment clauses joined until the drawn length; label of the first."""
    out, labels = [], []
    for _ in range(n):
        want = int(rng.integers(5, 61))
        words, label = [], None
        while len(words) < want:
            sentence, y = sentiment_sentence(rng)
            label = y if label is None else label
            words += sentence.split()
        out.append(" ".join(words[:want]))
        labels.append(int(label))
    return out, labels


def build_checkpoint(root: Path, corpus: list[str]) -> Path:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=30522, special_tokens=specials))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")  # fmt: skip
    cfg = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                     intermediate_size=1536, max_position_embeddings=512, pad_token_id=fast.pad_token_id)  # fmt: skip
    torch.manual_seed(0)
    path = root / "encoder"
    BertForMaskedLM(cfg).save_pretrained(path)
    fast.save_pretrained(path)
    return path


def write_tsv(path: Path, rows: tuple[list[str], list[int]]) -> None:
    lines = ["sentence\tlabel"] + [f"{t}\t{y}" for t, y in zip(*rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def scenario(model_dir: Path, data: Path, test: int):
    return load_scenario(
        ROOT / "scenarios" / "quickstart.yaml",
        {
            "rounds": 100,
            "deadline_s": 1e6,
            "output.plots": False,
            "devices": [{"name": "phones", "count": CLIENTS, "placement": {"kind": "disc", "radius_m": 200}}],
            "task.model": {"source": "local", "path": str(model_dir), "max_seq_len": 128},
            "task.dataset": {"name": "glue-sst2", "path": str(data / "train.tsv"), "test_path": str(data / "test.tsv")},
            "task.eval.max_samples": test,
            "task.local_steps": STEPS,
            "task.batch_size": BATCH,
            "federated.ranks": [RANK],
            "federated.target_modules": ["query", "value"],
            "policy.params.rank": RANK,
        },
    )


def plain_training(sim: Simulation, model_dir: Path, devices: list[int]) -> float:
    """The same clients' training in a plain peft loop on its own copy of the checkpoint."""
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict
    from transformers import AutoModelForSequenceClassification

    base = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)
    heads = sim.learner.info()["head_modules"]
    model = get_peft_model(base, LoraConfig(r=RANK, lora_alpha=2 * RANK, target_modules=["query", "value"],
                                            modules_to_save=heads))  # fmt: skip
    params = [p for p in model.parameters() if p.requires_grad]
    start = {k: v.clone() for k, v in get_peft_model_state_dict(model).items()}
    lr = sim.learner
    t0 = time.perf_counter()
    for d in devices:
        set_peft_model_state_dict(model, start)  # every client starts from the same adapter and head
        opt = torch.optim.AdamW(params, lr=sim.sc.task.lr)
        model.train()
        for ids, mask, labels in lr.client_batches(d, RANK):  # each padded to its own longest text
            loss = torch.nn.functional.cross_entropy(model(input_ids=ids, attention_mask=mask).logits, labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
        model.eval()
        {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}
    return time.perf_counter() - t0


@torch.inference_mode()
def plain_evaluation(model: torch.nn.Module, tok, test_texts: list[str], batch: int) -> float:
    t0 = time.perf_counter()
    for i in range(0, len(test_texts), batch):
        enc = tok(test_texts[i : i + batch], padding="longest", truncation=True, max_length=128, return_tensors="pt")
        model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits.argmax(-1)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--test", type=int, default=500)
    args = ap.parse_args()
    from transformers import AutoTokenizer

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train, test = texts(2000, rng), texts(args.test, rng)
        write_tsv(root / "train.tsv", train)
        write_tsv(root / "test.tsv", test)
        model_dir = build_checkpoint(root, train[0] + test[0])
        sim = Simulation(scenario(model_dir, root, args.test))
        sim.step()  # warm-up: first-call costs of torch and peft
        ours, plain, ours_eval, plain_eval, tokens = [], [], [], [], []
        tok = AutoTokenizer.from_pretrained(model_dir)
        for _ in range(args.rounds):
            sim.step()
            t = sim.timing_rows[-1]
            rows = sim.device_rows[-CLIENTS:]
            devices = [r["device"] for r in rows if r["rank"] > 0]
            assert len(devices) == CLIENTS, "every client should train each round"
            ours.append(t["train_s"])
            ours_eval.append(t["evaluate_s"])
            plain.append(plain_training(sim, model_dir, devices))
            plain_eval.append(
                plain_evaluation(sim.learner.method.eval_model(), tok, test[0], sim.sc.task.eval.batch_size)
            )
            tokens.append(sum(int(b[1].sum()) for d in devices for b in sim.learner.client_batches(d, RANK)))
        info = sim.learner.info()
    assert info["training_path"] == "batched", info["training_path"]
    tr, pl = float(np.median(ours)), float(np.median(plain))
    ev, pe = float(np.median(ours_eval)), float(np.median(plain_eval))
    # fedwireless's evaluation also scores every device's held-out rows: throughput counts every row scored.
    held = sum(len(r) for r in sim.learner.data.device_eval)
    ours_rate, plain_rate = (args.test + held) / ev, args.test / pe
    params = sum(p.numel() for p in sim.learner.method.model.base_model.model.parameters())
    print(f"BERT-style encoder 6 × 384, vocabulary 30,522: {params / 1e6:.1f} M parameters")
    print(f"trained beside the adapters: {info['head_modules']}")
    print(f"{CLIENTS} clients × {STEPS} steps × batch {BATCH}, texts of 5–60 words, median of {args.rounds} rounds, "
          f"torch threads {torch.get_num_threads()}; {np.mean(tokens):.0f} real tokens per round")  # fmt: skip
    print(f"{'':34s} {'fedwireless':>14s} {'plain loop':>13s} {'ratio':>7s} {'target':>7s}")
    print(f"{'training, one round (s)':34s} {tr:14.2f} {pl:13.2f} {tr / pl:7.2f} {'<= 1.2':>7s}")
    slower = plain_rate / ours_rate
    print(f"{'evaluation (texts/s)':34s} {ours_rate:14.1f} {plain_rate:13.1f} {slower:7.2f} {'<= 1.2':>7s}")
    print(
        f"evaluation: fedwireless {args.test} test + {held} held-out device texts in {ev:.2f} s; "
        f"plain loop {args.test} test texts in {pe:.2f} s (time ratio per text is the throughput ratio)"
    )


if __name__ == "__main__":
    main()
