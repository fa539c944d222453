"""Codec registry: a name picks a class; the classes (and torch) are imported only when one is built."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fedwireless.codecs.params import CODECS, resolve_codec_params

if TYPE_CHECKING:
    from fedwireless.codecs.base import Codec

# name -> "module:Class"; the same names, in the same order, as the parameter schemas.
_CLASSES: dict[str, str] = {
    "none": "fedwireless.codecs.simple:NoneCodec",
    "fp16": "fedwireless.codecs.simple:FP16Codec",
    "int8": "fedwireless.codecs.simple:Int8Codec",
    "topk": "fedwireless.codecs.simple:TopKCodec",
    "nncodec": "fedwireless.codecs.nnc:NNCodecCodec",
}
assert tuple(_CLASSES) == CODECS, "registry and parameter schemas list different codecs"


def make_codec(name: str, params: Mapping[str, Any] | None = None) -> Codec:
    """Build codec `name` with `params` (defaults filled in). ValueError lists known names / parameters."""
    resolved = resolve_codec_params(name, params)
    module, cls = _CLASSES[name].split(":")
    return getattr(importlib.import_module(module), cls)(resolved)
