"""Plain codecs: float32, float16, uniform int8, top-k sparsification; and client-side error feedback."""

from __future__ import annotations

import json
import struct

import numpy as np
import torch

MAGIC = b"FWC1"


def pack(codec: str, entries: list[dict], body: bytes) -> bytes:
    """MAGIC | uint32 header length | JSON header (sorted keys) | body."""
    header = json.dumps({"codec": codec, "tensors": entries}, sort_keys=True, separators=(",", ":")).encode()
    return MAGIC + struct.pack("<I", len(header)) + header + body


def unpack(payload: bytes, codec: str) -> tuple[list[dict], memoryview]:
    if payload[:4] != MAGIC:
        raise ValueError("payload: not a fedwireless codec payload (bad magic bytes)")
    (n,) = struct.unpack("<I", payload[4:8])
    header = json.loads(payload[8 : 8 + n])
    if header["codec"] != codec:
        raise ValueError(f"payload: encoded with codec {header['codec']!r}, cannot decode with {codec!r}")
    return header["tensors"], memoryview(payload)[8 + n :]


def _as_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float32).contiguous().cpu().numpy()


class RawFloat32:
    """Lossless: little-endian float32."""

    name = "none"
    lossless = True

    def encode(self, tensors: dict[str, torch.Tensor]) -> bytes:
        entries, chunks = [], []
        for name in sorted(tensors):
            a = _as_numpy(tensors[name]).astype("<f4")
            entries.append({"name": name, "shape": list(a.shape)})
            chunks.append(a.tobytes())
        return pack(self.name, entries, b"".join(chunks))

    def decode(self, payload: bytes) -> dict[str, torch.Tensor]:
        entries, body = unpack(payload, self.name)
        out, pos = {}, 0
        for e in entries:
            n = int(np.prod(e["shape"], dtype=np.int64))
            a = np.frombuffer(body, dtype="<f4", count=n, offset=pos).reshape(e["shape"])
            out[e["name"]] = torch.from_numpy(a.copy())
            pos += 4 * n
        return out


class Float16:
    """IEEE half precision: relative error ≤ 2⁻¹¹ in the normal range."""

    name = "fp16"
    lossless = False

    def encode(self, tensors: dict[str, torch.Tensor]) -> bytes:
        entries, chunks = [], []
        for name in sorted(tensors):
            a = _as_numpy(tensors[name]).astype("<f2")
            entries.append({"name": name, "shape": list(a.shape)})
            chunks.append(a.tobytes())
        return pack(self.name, entries, b"".join(chunks))

    def decode(self, payload: bytes) -> dict[str, torch.Tensor]:
        entries, body = unpack(payload, self.name)
        out, pos = {}, 0
        for e in entries:
            n = int(np.prod(e["shape"], dtype=np.int64))
            a = np.frombuffer(body, dtype="<f2", count=n, offset=pos).reshape(e["shape"]).astype(np.float32)
            out[e["name"]] = torch.from_numpy(a)
            pos += 2 * n
        return out


class Int8:
    """Uniform symmetric per-tensor quantization: step = max|x|/127, error ≤ step/2."""

    name = "int8"
    lossless = False

    def encode(self, tensors: dict[str, torch.Tensor]) -> bytes:
        entries, chunks = [], []
        for name in sorted(tensors):
            a = _as_numpy(tensors[name])
            peak = float(np.max(np.abs(a))) if a.size else 0.0
            step = peak / 127.0 if peak > 0 else 1.0
            q = np.clip(np.rint(a / step), -127, 127).astype(np.int8)
            entries.append({"name": name, "shape": list(a.shape), "step": step})
            chunks.append(q.tobytes())
        return pack(self.name, entries, b"".join(chunks))

    def decode(self, payload: bytes) -> dict[str, torch.Tensor]:
        entries, body = unpack(payload, self.name)
        out, pos = {}, 0
        for e in entries:
            n = int(np.prod(e["shape"], dtype=np.int64))
            q = np.frombuffer(body, dtype=np.int8, count=n, offset=pos).reshape(e["shape"])
            out[e["name"]] = torch.from_numpy(q.astype(np.float32) * np.float32(e["step"]))
            pos += n
        return out


class TopK:
    """Per-tensor top-k by magnitude: keeps ceil(ratio·n) entries as (uint32 index, float32 value).

    Meant to be used with `ErrorFeedback`, which keeps what was not sent for the next round.
    """

    name = "topk"
    lossless = False

    def __init__(self, ratio: float = 0.1) -> None:
        self.ratio = ratio

    def encode(self, tensors: dict[str, torch.Tensor]) -> bytes:
        entries, chunks = [], []
        for name in sorted(tensors):
            a = _as_numpy(tensors[name]).ravel()
            k = min(a.size, int(np.ceil(self.ratio * a.size)))
            # Stable order (ties broken by index) so the bytes are deterministic.
            idx = np.sort(np.argsort(-np.abs(a), kind="stable")[:k]).astype("<u4")
            entries.append({"name": name, "shape": list(tensors[name].shape), "k": int(k)})
            chunks.append(idx.tobytes() + a[idx].astype("<f4").tobytes())
        return pack(self.name, entries, b"".join(chunks))

    def decode(self, payload: bytes) -> dict[str, torch.Tensor]:
        entries, body = unpack(payload, self.name)
        out, pos = {}, 0
        for e in entries:
            k = e["k"]
            idx = np.frombuffer(body, dtype="<u4", count=k, offset=pos)
            val = np.frombuffer(body, dtype="<f4", count=k, offset=pos + 4 * k)
            dense = np.zeros(int(np.prod(e["shape"], dtype=np.int64)), dtype=np.float32)
            dense[idx] = val
            out[e["name"]] = torch.from_numpy(dense.reshape(e["shape"]))
            pos += 8 * k
        return out


class ErrorFeedback:
    """Client-side error accumulation around any codec (Seide et al. 2014; Karimireddy et al. 2019).

    Sends encode(update + residual) and keeps residual = (update + residual) − decoded, so the sum of
    what the server decodes tracks the sum of the true updates up to the current residual.
    """

    def __init__(self, codec) -> None:
        self.codec = codec
        self.residual: dict[str, torch.Tensor] = {}

    def encode(self, update: dict[str, torch.Tensor]) -> tuple[bytes, dict[str, torch.Tensor]]:
        corrected = {}
        for k, v in update.items():
            r = self.residual.get(k)
            corrected[k] = v + r if r is not None and r.shape == v.shape else v.clone()
        payload = self.codec.encode(corrected)
        decoded = self.codec.decode(payload)
        self.residual = {k: corrected[k] - decoded[k] for k in corrected}
        return payload, decoded
