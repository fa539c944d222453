"""Self-describing byte container shared by every update codec (no pickle, no torch.save).

Layout (all integers little-endian)::

    b"FWU1" | u32 header_len | zlib(header JSON, level 9) | raw sections | codec blob

The header JSON (sorted keys, compact separators, so the same input gives the same bytes) holds
``{"codec": name, "meta": {...codec-specific...}, "tensors": [[name, dtype, shape], ...]}`` in the
input's order. Floating tensors (float16/bfloat16/float32/float64) are handed to the codec as float32
and decode to float32. Integer and bool tensors never go through a lossy codec: their exact bytes are
stored in the raw sections (in tensor order) and they decode to their original dtype. Empty tensors
take no body bytes. The header is zlib-compressed because tensor names repeat ("layers.3.attention...")
and would otherwise cost kilobytes next to a sub-percent NNC bitstream.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

MAGIC = b"FWU1"
_U32 = struct.Struct("<I")

_FLOAT_DTYPES = {
    torch.float16: "float16",
    torch.bfloat16: "bfloat16",
    torch.float32: "float32",
    torch.float64: "float64",
}
_RAW_DTYPES = {
    torch.bool: ("bool", np.bool_),
    torch.uint8: ("uint8", np.uint8),
    torch.int8: ("int8", np.int8),
    torch.int16: ("int16", np.int16),
    torch.int32: ("int32", np.int32),
    torch.int64: ("int64", np.int64),
}
_RAW_BY_NAME = {name: (tdt, ndt) for tdt, (name, ndt) in _RAW_DTYPES.items()}


@dataclass(frozen=True)
class Entry:
    """One tensor of an update as the container sees it."""

    name: str
    dtype: str  # original dtype name
    shape: tuple[int, ...]

    @property
    def is_float(self) -> bool:
        return self.dtype in _FLOAT_DTYPES.values()

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def split_update(tensors: dict[str, torch.Tensor]) -> tuple[list[Entry], list[np.ndarray], list[bytes]]:
    """Entries of every tensor, flat float32 arrays of the floating ones, exact bytes of the others.

    ValueError names a non-string key, a non-tensor value or an unsupported dtype (complex, ...).
    """
    if not isinstance(tensors, dict):
        raise ValueError(f"tensors: must be a dict of name -> torch.Tensor, got {type(tensors).__name__}")
    entries: list[Entry] = []
    floats: list[np.ndarray] = []
    raws: list[bytes] = []
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise ValueError(f"tensors: keys must be strings, got {name!r}")
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"tensors[{name!r}]: must be a torch.Tensor, got {type(t).__name__}")
        t = t.detach()
        if t.dtype in _FLOAT_DTYPES:
            entries.append(Entry(name, _FLOAT_DTYPES[t.dtype], tuple(t.shape)))
            floats.append(t.to(device="cpu", dtype=torch.float32).contiguous().reshape(-1).numpy())
        elif t.dtype in _RAW_DTYPES:
            dname, ndt = _RAW_DTYPES[t.dtype]
            entries.append(Entry(name, dname, tuple(t.shape)))
            arr = t.to("cpu").contiguous().reshape(-1).numpy().astype(np.dtype(ndt).newbyteorder("<"))
            raws.append(arr.tobytes())
        else:
            known = ", ".join(list(_FLOAT_DTYPES.values()) + [n for n, _ in _RAW_DTYPES.values()])
            raise ValueError(f"tensors[{name!r}]: dtype {t.dtype} not supported; supported: {known}")
    return entries, floats, raws


def check_finite(entries: list[Entry], floats: list[np.ndarray], codec: str) -> None:
    """Lossy codecs cannot represent NaN/inf; say which tensor holds one."""
    for e, x in zip((e for e in entries if e.is_float), floats):
        if x.size and not np.isfinite(x).all():
            raise ValueError(f"tensors[{e.name!r}]: contains NaN or inf, which codec {codec!r} cannot encode")


def pack(codec: str, entries: list[Entry], raws: list[bytes], blob: bytes, meta: dict[str, Any]) -> bytes:
    header = {"codec": codec, "meta": meta, "tensors": [[e.name, e.dtype, list(e.shape)] for e in entries]}
    hjson = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    hz = zlib.compress(hjson, 9)
    return b"".join([MAGIC, _U32.pack(len(hz)), hz, *raws, blob])


def unpack(payload: bytes, codec: str) -> tuple[list[Entry], dict[str, torch.Tensor], bytes, dict[str, Any]]:
    """Entries, the decoded raw (integer/bool) tensors by name, the codec blob and the meta dict.

    ValueError if the bytes are not a container, are truncated, or were written by another codec.
    """
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise ValueError(f"payload: must be bytes, got {type(payload).__name__}")
    payload = bytes(payload)
    if len(payload) < 8 or payload[:4] != MAGIC:
        raise ValueError(f"payload: not a fedwireless update (expected magic {MAGIC!r}, got {payload[:4]!r})")
    (hlen,) = _U32.unpack_from(payload, 4)
    if 8 + hlen > len(payload):
        raise ValueError(f"payload: truncated header ({len(payload)} bytes, header needs {8 + hlen})")
    try:
        header = json.loads(zlib.decompress(payload[8 : 8 + hlen]).decode("utf-8"))
        entries = [Entry(str(n), str(d), tuple(int(s) for s in shape)) for n, d, shape in header["tensors"]]
        meta = dict(header["meta"])
        written_by = str(header["codec"])
    except (zlib.error, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"payload: corrupt header ({exc})") from exc
    if written_by != codec:
        raise ValueError(f"payload: was encoded by codec {written_by!r}, cannot be decoded by {codec!r}")
    pos = 8 + hlen
    raw: dict[str, torch.Tensor] = {}
    for e in entries:
        if e.is_float:
            continue
        if e.dtype not in _RAW_BY_NAME:
            raise ValueError(f"payload: tensor {e.name!r} has unknown dtype {e.dtype!r}")
        tdt, ndt = _RAW_BY_NAME[e.dtype]
        nbytes = e.numel * np.dtype(ndt).itemsize
        if pos + nbytes > len(payload):
            raise ValueError(f"payload: truncated in tensor {e.name!r}")
        arr = np.frombuffer(payload, dtype=np.dtype(ndt).newbyteorder("<"), count=e.numel, offset=pos)
        raw[e.name] = torch.from_numpy(arr.astype(ndt)).reshape(e.shape).to(tdt)
        pos += nbytes
    return entries, raw, payload[pos:], meta


def assemble(entries: list[Entry], floats: list[np.ndarray], raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rebuild the name -> tensor dict in the original order; floats become float32 tensors."""
    out: dict[str, torch.Tensor] = {}
    it = iter(floats)
    for e in entries:
        if e.is_float:
            x = next(it)
            if x.size != e.numel:
                raise ValueError(
                    f"payload: tensor {e.name!r} decoded to {x.size} values, shape {e.shape} needs {e.numel}"
                )
            out[e.name] = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).reshape(e.shape)
        else:
            out[e.name] = raw[e.name]
    return out


def float_entries(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if e.is_float]


def take(blob: bytes, pos: int, nbytes: int, what: str) -> tuple[bytes, int]:
    """Slice `nbytes` of the codec blob at `pos`, ValueError if the payload is too short."""
    if pos + nbytes > len(blob):
        raise ValueError(f"payload: truncated in {what} (needs {pos + nbytes} bytes of body, has {len(blob)})")
    return blob[pos : pos + nbytes], pos + nbytes
