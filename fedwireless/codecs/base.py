"""The `Codec` protocol and the shared encode/decode skeleton of every update codec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from fedwireless.codecs.container import (
    Entry,
    assemble,
    check_finite,
    float_entries,
    pack,
    split_update,
    unpack,
)
from fedwireless.codecs.params import resolve_codec_params


@runtime_checkable
class Codec(Protocol):
    """Turns an update (name -> tensor) into bytes and back.

    `decode(encode(t))` has the same names (same order) and shapes; floating tensors come back as
    float32, integer/bool tensors exactly, with their own dtype. Same input -> identical bytes.
    """

    name: str
    lossless: bool

    def encode(self, tensors: dict[str, torch.Tensor]) -> bytes: ...

    def decode(self, payload: bytes) -> dict[str, torch.Tensor]: ...


class BaseCodec:
    """Skeleton: the container handles names, shapes, dtypes and integer tensors; a subclass codes floats.

    Subclasses set `name`, `lossless`, and implement `_encode_floats(entries, floats) -> (blob, meta)`
    and `_decode_floats(entries, blob, meta) -> list of flat float32 arrays`.
    """

    name: str = ""
    lossless: bool = False
    #: True when encoding depends on what this instance coded before (one instance per sender then).
    stateful: bool = False
    #: Lossy codecs reject NaN/inf up front instead of producing garbage.
    requires_finite: bool = True

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self.params: dict[str, Any] = resolve_codec_params(self.name, params)
        self.error_feedback: bool = self.params["error_feedback"]
        self.difference_coding: bool = self.params["difference_coding"]

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.params.items() if k not in ("error_feedback", "difference_coding")}
        return f"{type(self).__name__}({shown})"

    def encode(self, tensors: dict[str, torch.Tensor]) -> bytes:
        entries, floats, raws = split_update(tensors)
        if self.requires_finite:
            check_finite(entries, floats, self.name)
        blob, meta = self._encode_floats(float_entries(entries), floats)
        return pack(self.name, entries, raws, blob, meta)

    def decode(self, payload: bytes) -> dict[str, torch.Tensor]:
        entries, raw, blob, meta = unpack(payload, self.name)
        fents = float_entries(entries)
        floats = self._decode_floats(fents, blob, meta)
        if len(floats) != len(fents):
            raise ValueError(f"payload: {len(floats)} float tensors decoded, header lists {len(fents)}")
        return assemble(entries, floats, raw)

    def _encode_floats(self, entries: list[Entry], floats: list[np.ndarray]) -> tuple[bytes, dict[str, Any]]:
        raise NotImplementedError

    def _decode_floats(self, entries: list[Entry], blob: bytes, meta: dict[str, Any]) -> list[np.ndarray]:
        raise NotImplementedError


def num_float_params(tensors: Mapping[str, torch.Tensor]) -> int:
    """Number of floating-point entries of an update (the parameters a compression ratio counts)."""
    return int(sum(t.numel() for t in tensors.values() if t.is_floating_point()))
