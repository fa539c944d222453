"""Throughput and size of each update codec on tiny-LM-shaped differential updates.

Run: PYTHONPATH=. python benchmarks/bench_codecs.py [--sizes 0 1] [--repeats 3]
Size 0: dim 64, 8 layers, 8 heads, 4 kv heads, FFN 192, vocab 237 (409,472 params, arXiv 2504.01947).
Size 1: dim 288, 10 layers, 6 heads, 6 kv heads, FFN 768, vocab 237 (llama2.c-style, ~10 M params).
Updates are random normal with std 1e-3 (the magnitude of a local-training weight difference).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from fedwireless.codecs import make_codec

SIZES = {
    0: {"dim": 64, "layers": 8, "heads": 8, "kv_heads": 4, "ffn": 192, "vocab": 237},
    1: {"dim": 288, "layers": 10, "heads": 6, "kv_heads": 6, "ffn": 768, "vocab": 237},
}
CODEC_SETTINGS = [
    ("none", {}),
    ("fp16", {}),
    ("int8", {}),
    ("topk", {"ratio": 0.01}),
    ("nncodec", {"qp": -38}),
    ("nncodec", {"qp": -26}),
    ("nncodec", {"qp": -26, "use_dq": True, "unstructured_sparsity": 0.6}),
]


def tiny_lm_update(cfg: dict[str, int], rng: np.random.Generator, std: float = 1e-3) -> dict[str, torch.Tensor]:
    """Llama-style (RMSNorm, SwiGLU, tied embeddings) state-dict shapes filled with N(0, std^2)."""
    d, hd = cfg["dim"], cfg["dim"] // cfg["heads"]
    kv = cfg["kv_heads"] * hd
    shapes: dict[str, tuple[int, ...]] = {"tok_embeddings.weight": (cfg["vocab"], d)}
    for i in range(cfg["layers"]):
        p = f"layers.{i}."
        shapes |= {
            p + "attention.wq.weight": (d, d),
            p + "attention.wk.weight": (kv, d),
            p + "attention.wv.weight": (kv, d),
            p + "attention.wo.weight": (d, d),
            p + "feed_forward.w1.weight": (cfg["ffn"], d),
            p + "feed_forward.w2.weight": (d, cfg["ffn"]),
            p + "feed_forward.w3.weight": (cfg["ffn"], d),
            p + "attention_norm.weight": (d,),
            p + "ffn_norm.weight": (d,),
        }
    shapes["norm.weight"] = (d,)
    return {k: torch.from_numpy((rng.standard_normal(s) * std).astype(np.float32)) for k, s in shapes.items()}


def bench(update: dict[str, torch.Tensor], name: str, params: dict, repeats: int) -> dict[str, float]:
    codec = make_codec(name, params)
    n = sum(t.numel() for t in update.values())
    mb = 4 * n / 1e6
    enc, dec = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        payload = codec.encode(update)
        t1 = time.perf_counter()
        decoded = codec.decode(payload)
        t2 = time.perf_counter()
        enc.append(t1 - t0)
        dec.append(t2 - t1)
    err = max(float((decoded[k] - update[k]).abs().max()) for k in update)
    return {
        "bytes": len(payload),
        "bytes_per_param": len(payload) / n,
        "ratio_pct": 100 * len(payload) / (4 * n),
        "enc_mb_s": mb / min(enc),
        "dec_mb_s": mb / min(dec),
        "max_abs_err": err,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    for size in args.sizes:
        update = tiny_lm_update(SIZES[size], rng)
        n = sum(t.numel() for t in update.values())
        print(f"\nsize {size}: {n:,} params, {4 * n / 1e6:.2f} MB float32, {len(update)} tensors, 1 thread")
        cols = f"{'bytes':>11}{'B/param':>9}{'% f32':>8}{'enc MB/s':>10}{'dec MB/s':>10}{'max err':>10}"
        print(f"{'codec':<52}{cols}")
        for name, params in CODEC_SETTINGS:
            r = bench(update, name, params, args.repeats)
            label = name + (" " + ",".join(f"{k}={v}" for k, v in params.items()) if params else "")
            print(
                f"{label:<52}{r['bytes']:>11,}{r['bytes_per_param']:>9.4f}{r['ratio_pct']:>8.3f}"
                f"{r['enc_mb_s']:>10.1f}{r['dec_mb_s']:>10.1f}{r['max_abs_err']:>10.2e}"
            )


if __name__ == "__main__":
    main()
