"""Centralised training of a TLM on generated traces: wall time per step and the accuracy reached.

A sizing aid for federated scenarios (not the federated training itself, which lives in
`fedwireless.learning`; it trains with the same loop, `learning.training.run_steps`). Run:

    PYTHONPATH=. python benchmarks/tlm_central.py --size 0 --steps 200 --threads 2

Trains on the pooled training rows of all areas with AdamW and the causal-LM loss over all real tokens
(as the paper trains next-token prediction), then evaluates on the held-out split both the masked
metrics (predicted span only) and the paper's unmasked ones.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np


def evaluate(model, task, batch_size: int = 256) -> dict[str, float]:
    """Accuracy and perplexity over the whole test split, masked (span) and unmasked (all tokens)."""
    import torch

    from fedwireless.cellular.metrics import token_nll_sum

    sums = {True: [0.0, 0, 0], False: [0.0, 0, 0]}  # masked -> [nll, hits, count]
    model.eval()
    with torch.no_grad():
        for b in task.test_batches(batch_size):
            logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
            for masked in (True, False):
                nll, n = token_nll_sum(logits, b["input_ids"], b["attention_mask"], b["loss_mask"], masked=masked)
                if masked:
                    keep = b["loss_mask"][:, 1:].bool() & b["attention_mask"][:, 1:].bool()
                else:
                    keep = b["attention_mask"][:, 1:].bool() & b["attention_mask"][:, :-1].bool()
                hits = ((logits[:, :-1].argmax(-1) == b["input_ids"][:, 1:]) & keep).sum()
                s = sums[masked]
                s[0] += float(nll)
                s[1] += int(hits)
                s[2] += n
    model.train()
    out = {}
    for masked, (nll, hits, n) in sums.items():
        tag = "masked" if masked else "unmasked"
        out[f"{tag}_accuracy"] = hits / n
        out[f"{tag}_perplexity"] = math.exp(nll / n)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=0)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--rows-per-area", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", default="datarate_mbps")
    parser.add_argument("--span-loss", action="store_true", help="train on the predicted span only")
    args = parser.parse_args(argv)

    import torch

    from fedwireless.cellular.metrics import span_loss
    from fedwireless.cellular.tlm import PAPER_VOCAB_SIZE, build_tlm
    from fedwireless.cellular.tokenize import RowFormat, TabularTextTask, pad_batch
    from fedwireless.cellular.traces import generate_traces

    torch.set_num_threads(args.threads)
    seeds = np.random.SeedSequence(args.seed).spawn(3)
    df = generate_traces(args.rows_per_area, np.random.default_rng(seeds[0]))
    task = TabularTextTask(df, fmt=RowFormat(target_column=args.target))
    vocab = max(task.tokenizer.vocab_size, PAPER_VOCAB_SIZE)
    model = build_tlm(args.size, vocab, task.max_seq_len, torch_seed=int(seeds[1].generate_state(1)[0]))
    from fedwireless.learning.training import OptimizerSettings, make_optimizer, run_steps

    settings = OptimizerSettings(args.lr, betas=(0.9, 0.95), schedule="warmup-cosine", warmup_fraction=0.1)
    opt = make_optimizer(list(model.parameters()), settings)
    # Pool every client's training sequences into one data set (centralised baseline).
    from fedwireless.cellular.tokenize import Sequences

    pooled = Sequences(
        tuple(i for c in task.clients for i in task.train[c].ids),
        np.concatenate([task.train[c].span_starts for c in task.clients]),
    )
    rng = np.random.default_rng(seeds[2])
    before = evaluate(model, task)
    step_times: list[float] = []

    def step_loss(_step: int) -> list[torch.Tensor]:
        step_times.append(time.perf_counter())
        b = pad_batch(pooled, rng.integers(0, len(pooled), args.batch_size), task.tokenizer.pad_id)
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
        return [span_loss(logits, b["input_ids"], b["attention_mask"], b["loss_mask"], masked=args.span_loss)]

    model.train()
    losses = [h[0] for h in run_steps(args.steps, step_loss, opt, settings)]
    step_times = list(np.diff([*step_times, time.perf_counter()]))
    after = evaluate(model, task)
    result = {
        "size": args.size,
        "params": sum(p.numel() for p in model.parameters()),
        "tokenizer_vocab": task.tokenizer.vocab_size,
        "model_vocab": vocab,
        "max_seq_len": task.max_seq_len,
        "train_rows": len(pooled),
        "test_rows": len(task.test),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "step_s_median": float(np.median(step_times)),
        "step_s_mean": float(np.mean(step_times)),
        "loss_first10": float(np.mean(losses[:10])),
        "loss_last10": float(np.mean(losses[-10:])),
        "before": before,
        "after": after,
    }
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
