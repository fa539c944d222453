"""Update codecs: each turns a dict of tensors into real bytes and back.

The bytes are what the simulated uplink and downlink carry (bits = 8 × len). Payloads are
self-describing (a length-prefixed JSON header with names, shapes and per-tensor scales, then the
body) and deterministic: the same update always gives the same bytes. Never pickle.

Validation (`validate_codec_params`) imports neither torch nor nncodec, so `fedwireless validate` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# name -> {param: (check, rule)}
_PARAMS: dict[str, dict[str, tuple[Callable[[Any], bool], str]]] = {
    "none": {},
    "fp16": {},
    "int8": {},
    "topk": {"ratio": (lambda v: isinstance(v, (int, float)) and 0 < v <= 1, "must be in (0, 1]")},
    "nncodec": {
        "qp": (
            lambda v: isinstance(v, int) and not isinstance(v, bool) and -64 <= v <= 64,
            "must be an integer in [-64, 64]",
        ),
        "unstructured_sparsity": (lambda v: isinstance(v, (int, float)) and 0 <= v < 1, "must be in [0, 1)"),
        "structured_sparsity": (lambda v: isinstance(v, (int, float)) and 0 <= v < 1, "must be in [0, 1)"),
    },
}
CODECS = tuple(_PARAMS)


def validate_codec_params(name: str, params: Mapping[str, Any]) -> None:
    """Raise ValueError naming the parameter, the rule and the value, or listing the known codecs."""
    if name not in _PARAMS:
        raise ValueError(f"unknown codec {name!r}; known: {', '.join(CODECS)}")
    rules = _PARAMS[name]
    for key, value in params.items():
        if key not in rules:
            allowed = ", ".join(rules) or "none"
            raise ValueError(f"unknown parameter {key!r} for codec {name!r}; allowed: {allowed}")
        check, rule = rules[key]
        if not check(value):
            raise ValueError(f"{key}: {rule}, got {value!r}")


def make_codec(name: str, params: Mapping[str, Any] | None = None) -> Any:
    """Build a codec by name (imports torch; nncodec only for 'nncodec')."""
    params = dict(params or {})
    validate_codec_params(name, params)
    if name == "nncodec":
        from fedwireless.codecs.nnc import NNCodec

        return NNCodec(**params)
    from fedwireless.codecs import simple

    return {"none": simple.RawFloat32, "fp16": simple.Float16, "int8": simple.Int8, "topk": simple.TopK}[name](**params)
