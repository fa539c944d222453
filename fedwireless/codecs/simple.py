"""Baseline update codecs: raw float32, float16, per-tensor int8, and top-k sparsification."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fedwireless.codecs.base import BaseCodec
from fedwireless.codecs.container import Entry, take

_F32 = np.dtype("<f4")
_F16 = np.dtype("<f2")
_I8 = np.dtype("i1")
FP16_MAX = float(np.finfo(np.float16).max)  # 65504


class NoneCodec(BaseCodec):
    """Raw little-endian float32: lossless (bitwise) for float32 input; 4 bytes per parameter + header."""

    name = "none"
    lossless = True
    requires_finite = False  # bytes are copied, NaN/inf survive bitwise

    def _encode_floats(self, entries, floats):
        return b"".join(x.astype(_F32).tobytes() for x in floats), {}

    def _decode_floats(self, entries, blob, meta):
        out, pos = [], 0
        for e in entries:
            chunk, pos = take(blob, pos, 4 * e.numel, f"tensor {e.name!r}")
            out.append(np.frombuffer(chunk, dtype=_F32).astype(np.float32))
        return out


class FP16Codec(BaseCodec):
    """IEEE half precision (round to nearest even): relative error <= 2**-11 for |x| >= 2**-14 (normal
    range), absolute error <= 2**-25 below it; 2 bytes per parameter. |x| > 65504 is a ValueError."""

    name = "fp16"
    lossless = False

    def _encode_floats(self, entries, floats):
        for e, x in zip(entries, floats):
            if x.size and float(np.abs(x).max()) > FP16_MAX:
                raise ValueError(
                    f"tensors[{e.name!r}]: |value| {float(np.abs(x).max()):.6g} exceeds the float16 range "
                    f"(<= {FP16_MAX}); use codec 'none' or 'int8'"
                )
        return b"".join(x.astype(_F16).tobytes() for x in floats), {}

    def _decode_floats(self, entries, blob, meta):
        out, pos = [], 0
        for e in entries:
            chunk, pos = take(blob, pos, 2 * e.numel, f"tensor {e.name!r}")
            out.append(np.frombuffer(chunk, dtype=_F16).astype(np.float32))
        return out


class Int8Codec(BaseCodec):
    """Uniform symmetric int8, one scale per tensor.

    step s = max|x| / 127 (stored as float32), q = clip(round_half_even(x / s), -127, 127), x_hat = q * s.
    Hence |x - x_hat| <= s / 2 (up to float32 rounding of the product). All-zero tensors store s = 0.
    Body per tensor: float32 s, then n int8 levels: 1 byte per parameter + 4 bytes per tensor.
    """

    name = "int8"
    lossless = False

    @staticmethod
    def step(x: np.ndarray) -> np.float32:
        """The per-tensor quantization step s (float32) that `encode` uses for the flat array `x`."""
        return np.float32(float(np.abs(x).max()) / 127.0) if x.size else np.float32(0.0)

    def _encode_floats(self, entries, floats):
        parts = []
        for x in floats:
            s = self.step(x)
            if s > 0:
                q = np.clip(np.rint(x.astype(np.float64) / np.float64(s)), -127, 127).astype(_I8)
            else:
                q = np.zeros(x.size, dtype=_I8)
            parts += [np.array([s], dtype=_F32).tobytes(), q.tobytes()]
        return b"".join(parts), {}

    def _decode_floats(self, entries, blob, meta):
        out, pos = [], 0
        for e in entries:
            chunk, pos = take(blob, pos, 4 + e.numel, f"tensor {e.name!r}")
            s = np.frombuffer(chunk[:4], dtype=_F32)[0]
            out.append(np.frombuffer(chunk[4:], dtype=_I8).astype(np.float32) * s)
        return out


def topk_indices(magnitude: np.ndarray, k: int) -> np.ndarray:
    """Ascending indices of the `k` largest entries of `magnitude`; ties go to the lowest index.

    O(n) via `np.partition` on the k-th largest value, then an exact tie break, so the selection is
    deterministic (equal to a stable descending sort's first k, which the tests check).
    """
    n = magnitude.size
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k >= n:
        return np.arange(n, dtype=np.int64)
    thr = np.partition(magnitude, n - k)[n - k]
    above = np.flatnonzero(magnitude > thr)
    ties = np.flatnonzero(magnitude == thr)[: k - above.size]
    idx = np.concatenate([above, ties])
    idx.sort()
    return idx


def index_dtype(n: int) -> np.dtype:
    """Narrowest unsigned little-endian integer that indexes n entries."""
    if n <= 1 << 8:
        return np.dtype("u1")
    if n <= 1 << 16:
        return np.dtype("<u2")
    return np.dtype("<u4")


class TopKCodec(BaseCodec):
    """Top-k magnitude sparsification: keep k = ceil(ratio * n) entries, send their indices and values.

    ``scope="tensor"`` (default): k per tensor from its own n, so every non-empty tensor keeps at least one
    entry. ``scope="global"``: k = ceil(ratio * N) over all N float entries of the update, taken by
    magnitude across tensors. Ties go to the lowest (global, row-major) index. Kept values are exact
    float32; the rest decode to 0. Body per tensor: k indices (u8/u16/u32, the narrowest that indexes the
    tensor, ascending) then k float32 values; the k's are in the header. Meant to run inside
    :class:`ErrorFeedback` (``error_feedback: true``, the default hint) so dropped mass is sent later.
    """

    name = "topk"
    lossless = False

    def _ks(self, floats: list[np.ndarray]) -> list[np.ndarray]:
        ratio = self.params["ratio"]
        if self.params["scope"] == "tensor":
            return [topk_indices(np.abs(x), math.ceil(ratio * x.size)) for x in floats]
        sizes = [x.size for x in floats]
        total = int(sum(sizes))
        if total == 0:
            return [np.zeros(0, dtype=np.int64) for _ in floats]
        flat = np.concatenate([np.abs(x) for x in floats])
        gidx = topk_indices(flat, math.ceil(ratio * total))
        bounds = np.cumsum([0, *sizes])
        cut = np.searchsorted(gidx, bounds)
        return [gidx[cut[i] : cut[i + 1]] - bounds[i] for i in range(len(floats))]

    def _encode_floats(self, entries, floats):
        parts, ks = [], []
        for x, idx in zip(floats, self._ks(floats)):
            ks.append(int(idx.size))
            parts += [idx.astype(index_dtype(x.size)).tobytes(), x[idx].astype(_F32).tobytes()]
        return b"".join(parts), {"k": ks}

    def _decode_floats(self, entries: list[Entry], blob: bytes, meta: dict[str, Any]):
        ks = meta.get("k")
        if not isinstance(ks, list) or len(ks) != len(entries):
            raise ValueError("payload: top-k header lacks one k per float tensor")
        out, pos = [], 0
        for e, k in zip(entries, ks):
            idt = index_dtype(e.numel)
            ib, pos = take(blob, pos, k * idt.itemsize, f"indices of {e.name!r}")
            vb, pos = take(blob, pos, 4 * k, f"values of {e.name!r}")
            idx = np.frombuffer(ib, dtype=idt).astype(np.int64)
            if k and (idx.max() >= e.numel):
                raise ValueError(f"payload: index {int(idx.max())} out of range for {e.name!r} ({e.numel} entries)")
            x = np.zeros(e.numel, dtype=np.float32)
            x[idx] = np.frombuffer(vb, dtype=_F32)
            out.append(x)
        return out
