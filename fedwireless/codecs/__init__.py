"""Update codecs: turn a model update (name -> tensor) into real bytes and back.

Light to import: the parameter checks, registry and ratio need neither torch nor nncodec; the codec
classes and wrappers load on first use (module `__getattr__`).

    codec = make_codec("nncodec", {"qp": -38})
    payload = codec.encode(update)           # bytes; the link carries 8 * len(payload) bits
    decoded = codec.decode(payload)          # same names and shapes, float32

Known codecs: none, fp16, int8, topk, nncodec. See `params.wrapper_hints` for ErrorFeedback and
DifferenceCoder.
"""

from __future__ import annotations

import importlib
from typing import Any

from fedwireless.codecs.params import CODEC_PARAM_SPECS, CODECS, validate_codec_params, wrapper_hints
from fedwireless.codecs.ratio import bytes_per_param, paper_compression_ratio, paper_compression_ratio_rounds
from fedwireless.codecs.registry import make_codec

_LAZY = {
    "Codec": "fedwireless.codecs.base",
    "BaseCodec": "fedwireless.codecs.base",
    "num_float_params": "fedwireless.codecs.base",
    "ErrorFeedback": "fedwireless.codecs.feedback",
    "DifferenceCoder": "fedwireless.codecs.feedback",
    "encode_and_reconstruct": "fedwireless.codecs.feedback",
    "nnc_step_size": "fedwireless.codecs.nnc",
}

__all__ = [
    "CODECS",
    "CODEC_PARAM_SPECS",
    "bytes_per_param",
    "make_codec",
    "paper_compression_ratio",
    "paper_compression_ratio_rounds",
    "validate_codec_params",
    "wrapper_hints",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fedwireless.codecs' has no attribute {name!r}")
