"""Top-k logit payloads for federated distillation (Seed 003, arXiv 2509.01750): what a client sends, how
big it is, how many entries the channel allows, and how the server combines sparse distributions.

A client's payload for N proxy samples over a V-token vocabulary carries, per sample, its k largest
entries as (index, value) pairs: indices packed at ⌈log2 V⌉ bits, values (log-probabilities at the
distillation temperature) at 32, 16 or 8 bits (IEEE float32, float16, or float8 E4M3). Decoding returns
exactly the sent indices and the values cast to that precision.

Channel-adaptive k (the paper's k_n = ⌊η·C_n·T_n / d⌋ per sample): the largest k whose whole payload
(header included) fits in η·C_n·T_n bits, C_n the rate the allocation gives, T_n the upload window;
clipped to [1, V]. Where even k = 1 does not fit, k = 1 and the upload misses its window (the engine
drops it).

Aggregation of the clients' sparse distributions per proxy sample:
- `adaptive` (the paper's idea, our normalisation): each vocabulary entry is averaged only over the
  clients that sent it (weights ∝ data share, optionally × the client's confidence, the probability mass
  its top-k covers); the averaged sent entries are scaled to the weighted mean covered mass M, and the
  remaining 1 − M is spread evenly over the entries nobody sent (all to the sent ones if none is left).
- `zero-pad` (the baseline): a missing entry counts as probability 0 in the weighted mean; each row is
  then renormalised to 1.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

import numpy as np

MAGIC = b"FWTK"
_HEADER = struct.Struct("<4sIIIB")  # magic, samples N, vocabulary V, k, value bits
HIDDEN_MAGIC = b"FWHP"
_HIDDEN = struct.Struct("<4sIIB")  # magic, samples N, dimension r, value bits
HEADER_BYTES = _HEADER.size
VALUE_BITS = (32, 16, 8)


def index_bits(vocab: int) -> int:
    """Bits per vocabulary index: ⌈log2 V⌉ (at least 1)."""
    return max(1, math.ceil(math.log2(vocab)))


def payload_bytes(num_samples: int, vocab: int, k: int, value_bits: int) -> int:
    """Exact size of an encoded payload."""
    idx = math.ceil(num_samples * k * index_bits(vocab) / 8)
    return HEADER_BYTES + idx + num_samples * k * value_bits // 8


def adaptive_k(
    rate_bps: float, window_s: float, *, num_samples: int, vocab: int, value_bits: int, eta: float = 1.0
) -> int:
    """Largest k whose payload fits in η·rate·window bits, in [1, V]."""
    budget = eta * rate_bps * window_s
    if budget == np.inf:
        return vocab
    if not budget > 8 * payload_bytes(num_samples, vocab, 1, value_bits):  # also NaN, 0, negative windows
        return 1
    d = index_bits(vocab) + value_bits
    k = int(min(vocab, max(1, (budget - 8 * HEADER_BYTES) // (num_samples * d))))
    while k > 1 and 8 * payload_bytes(num_samples, vocab, k, value_bits) > budget:
        k -= 1
    return k


def _cast(values: np.ndarray, value_bits: int) -> tuple[bytes, np.ndarray]:
    """Raw bytes of the values at the precision, and the values as the receiver will read them."""
    v = np.asarray(values, dtype=np.float32)
    if value_bits == 32:
        return v.astype("<f4").tobytes(), v.astype(np.float32)
    if value_bits == 16:
        h = v.astype("<f2")
        return h.tobytes(), h.astype(np.float32)
    if value_bits == 8:
        import torch

        f8 = torch.from_numpy(np.ascontiguousarray(v)).to(torch.float8_e4m3fn)
        return f8.view(torch.uint8).numpy().tobytes(), f8.to(torch.float32).numpy()
    raise ValueError(f"value_bits: must be one of {VALUE_BITS}, got {value_bits}")


def _uncast(blob: bytes, count: int, value_bits: int) -> np.ndarray:
    if value_bits == 32:
        return np.frombuffer(blob, dtype="<f4", count=count).astype(np.float32)
    if value_bits == 16:
        return np.frombuffer(blob, dtype="<f2", count=count).astype(np.float32)
    import torch

    raw = torch.from_numpy(np.frombuffer(blob, dtype=np.uint8, count=count).copy())
    return raw.view(torch.float8_e4m3fn).to(torch.float32).numpy()


def encode_topk(indices: np.ndarray, values: np.ndarray, vocab: int, value_bits: int) -> bytes:
    """Payload of [N, k] indices (each < V) and their values."""
    idx = np.asarray(indices, dtype=np.int64)
    if idx.ndim != 2 or np.shape(values) != idx.shape:
        raise ValueError(f"indices and values: need equal [N, k] shapes, got {idx.shape} and {np.shape(values)}")
    if idx.size and (idx.min() < 0 or idx.max() >= vocab):
        raise ValueError(f"indices: must lie in [0, {vocab}), got [{idx.min()}, {idx.max()}]")
    n, k = idx.shape
    b = index_bits(vocab)
    bits = ((idx.reshape(-1, 1) >> np.arange(b - 1, -1, -1)) & 1).astype(np.uint8)
    raw_values, _ = _cast(np.asarray(values).reshape(-1), value_bits)
    return _HEADER.pack(MAGIC, n, vocab, k, value_bits) + np.packbits(bits.reshape(-1)).tobytes() + raw_values


def decode_topk(payload: bytes) -> tuple[np.ndarray, np.ndarray, int]:
    """[N, k] indices, [N, k] values (at the sent precision, as float32) and V."""
    if len(payload) < HEADER_BYTES:
        raise ValueError(f"payload: {len(payload)} bytes, shorter than the {HEADER_BYTES}-byte header")
    magic, n, vocab, k, value_bits = _HEADER.unpack_from(payload)
    if magic != MAGIC or value_bits not in VALUE_BITS:
        raise ValueError("payload: not a top-k logit payload")
    if len(payload) != payload_bytes(n, vocab, k, value_bits):
        raise ValueError(f"payload: {len(payload)} bytes, the header implies {payload_bytes(n, vocab, k, value_bits)}")
    b = index_bits(vocab)
    idx_len = math.ceil(n * k * b / 8)
    bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8, count=idx_len, offset=HEADER_BYTES))[: n * k * b]
    idx = (bits.reshape(-1, b).astype(np.int64) << np.arange(b - 1, -1, -1)).sum(axis=1).reshape(n, k)
    values = _uncast(payload[HEADER_BYTES + idx_len :], n * k, value_bits).reshape(n, k)
    return idx, values, vocab


def aggregate_topk(
    indices: Sequence[np.ndarray],
    logprobs: Sequence[np.ndarray],
    weights: Sequence[float],
    vocab: int,
    *,
    mode: str = "adaptive",
    confidence: bool = False,
) -> np.ndarray:
    """Global distribution [N, V] from clients' top-k log-probabilities ([N, k_c] each); see the docstring."""
    if mode not in ("adaptive", "zero-pad"):
        raise ValueError(f"mode: must be 'adaptive' or 'zero-pad', got {mode!r}")
    if not indices or len(indices) != len(logprobs) or len(indices) != len(weights):
        raise ValueError("indices, logprobs, weights: need one entry per client")
    n = indices[0].shape[0]
    w = np.asarray(weights, dtype=float)
    num = np.zeros((n, vocab))
    den = np.zeros((n, vocab))
    rows = np.arange(n)[:, None]
    covered = np.zeros(n)
    wsum = np.zeros(n)
    for idx, lp, wc in zip(indices, logprobs, w):
        p = np.exp(np.asarray(lp, dtype=float))
        mass = p.sum(axis=1)  # probability the client's top-k covers, per sample
        wn = wc * (mass if confidence else np.ones(n))
        np.add.at(num, (rows, idx), wn[:, None] * p)
        np.add.at(den, (rows, idx), wn[:, None])
        covered += wn * mass
        wsum += wn
    if mode == "zero-pad":
        q = num / wsum[:, None]
        return q / q.sum(axis=1, keepdims=True)
    sent = den > 0
    mean = np.where(sent, num / np.where(sent, den, 1.0), 0.0)
    m = np.clip(covered / wsum, 0.0, 1.0)
    unsent = (~sent).sum(axis=1)
    m = np.where(unsent > 0, m, 1.0)
    q = mean / mean.sum(axis=1, keepdims=True) * m[:, None]
    fill = np.where(unsent > 0, (1.0 - m) / np.maximum(unsent, 1), 0.0)
    return np.where(sent, q, fill[:, None])


def hidden_bytes(num_samples: int, dim: int, value_bits: int) -> int:
    """Size of an encoded block of [N, r] hidden projections."""
    return _HIDDEN.size + num_samples * dim * value_bits // 8


def encode_hidden(z: np.ndarray, value_bits: int) -> bytes:
    """[N, r] projected hidden states at the value precision (appended to a top-k payload)."""
    z = np.asarray(z, dtype=np.float32)
    raw, _ = _cast(z.reshape(-1), value_bits)
    return _HIDDEN.pack(HIDDEN_MAGIC, z.shape[0], z.shape[1], value_bits) + raw


def split_payload(payload: bytes) -> tuple[bytes, bytes]:
    """(top-k part, hidden block or b"") of a distillation payload."""
    if len(payload) < HEADER_BYTES:
        raise ValueError(f"payload: {len(payload)} bytes, shorter than the {HEADER_BYTES}-byte header")
    _, n, vocab, k, value_bits = _HEADER.unpack_from(payload)
    size = payload_bytes(n, vocab, k, value_bits)
    return payload[:size], payload[size:]


def decode_hidden(block: bytes) -> np.ndarray:
    magic, n, dim, value_bits = _HIDDEN.unpack_from(block)
    if magic != HIDDEN_MAGIC or len(block) != hidden_bytes(n, dim, value_bits):
        raise ValueError("payload: not a hidden-projection block")
    return _uncast(block[_HIDDEN.size :], n * dim, value_bits).reshape(n, dim)
