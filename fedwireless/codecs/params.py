"""Parameter schemas of the update codecs, checked without importing torch or nncodec.

The CLI's `validate` path calls :func:`validate_codec_params`, so this module imports nothing heavy.
Each codec accepts its own parameters plus two *wrapper hints* that the codec itself ignores and the
learning layer reads to decide how to wrap it (see :func:`wrapper_hints`):

- ``error_feedback`` (bool): wrap the sender in :class:`fedwireless.codecs.ErrorFeedback`
  (residual accumulation on the sender; Seide et al. 2014, Stich et al. 2018; NNCodec FL's
  ``err_accumulation``). Default True for the lossy sparsifying codecs (``topk``, ``nncodec``).
- ``difference_coding`` (bool): wrap sender and receiver in :class:`fedwireless.codecs.DifferenceCoder`
  (code the difference to the previously decoded update). Default False.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: its kind ('int', 'float', 'bool', 'choice'), default and allowed range."""

    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: low itself is not allowed
    high_open: bool = False
    choices: tuple[str, ...] = ()
    doc: str = ""

    def describe(self) -> str:
        if self.kind == "bool":
            return "a boolean (true/false)"
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open else "]"
        noun = "an integer" if self.kind == "int" else "a number"
        return f"{noun} in {lo}{_fmt(self.low)}, {_fmt(self.high)}{hi}"

    def check(self, key: str, value: Any) -> Any:
        """Return the value (ints converted to float for 'float'); ValueError naming key, value and range."""
        bad = ValueError(f"{key}: must be {self.describe()}, got {value!r}")
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise bad
            return value
        if self.kind == "choice":
            if value not in self.choices:
                raise bad
            return value
        # bool is an int subclass in Python; a YAML `true` is never a valid number here.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if self.kind == "int":
            if isinstance(value, float):
                if not value.is_integer():
                    raise bad
                value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise bad
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise bad
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            raise bad
        return value


def _fmt(x: float | None) -> str:
    if x is None:
        return "inf"
    return str(int(x)) if float(x).is_integer() else str(x)


def _hints(error_feedback: bool) -> dict[str, ParamSpec]:
    return {
        "error_feedback": ParamSpec(
            "bool", error_feedback, doc="learner wraps the sender in ErrorFeedback (residual on the sender)"
        ),
        "difference_coding": ParamSpec(
            "bool", False, doc="learner wraps sender/receiver in DifferenceCoder (temporal prediction)"
        ),
    }


# Name -> parameter specs. Order of names is the order shown in error messages and `CODECS`.
CODEC_PARAM_SPECS: dict[str, dict[str, ParamSpec]] = {
    "none": {**_hints(False)},
    "fp16": {**_hints(False)},
    "int8": {**_hints(False)},
    "topk": {
        "ratio": ParamSpec(
            "float", 0.01, low=0.0, high=1.0, low_open=True, doc="fraction of entries kept (ceil(ratio*n))"
        ),
        "scope": ParamSpec(
            "choice", "tensor", choices=("tensor", "global"), doc="top-k per tensor or over all tensors"
        ),
        **_hints(True),
    },
    "nncodec": {
        # NNC step size (ISO/IEC 15938-17, qp_density 2): delta = (4 + (qp mod 4)) * 2**(floor(qp/4) - 2).
        "qp": ParamSpec("int", -38, low=-64, high=64, doc="quantization parameter of >=2-D tensors"),
        "nonweight_qp": ParamSpec(
            "int", -75, low=-128, high=64, doc="quantization parameter of 1-D/0-D tensors (nncodec default)"
        ),
        "use_dq": ParamSpec("bool", False, doc="dependent (trellis) quantization: fewer bytes, error <= 2 steps"),
        "unstructured_sparsity": ParamSpec(
            "float", 0.0, low=0.0, high=1.0, high_open=True, doc="fraction of entries zeroed by magnitude"
        ),
        "structured_sparsity": ParamSpec(
            "float", 0.0, low=0.0, high=1.0, high_open=True, doc="fraction of rows zeroed by L2 norm"
        ),
        "structured_gain": ParamSpec(
            "float",
            0.0,
            low=0.0,
            high=10.0,
            doc="after the other sparsification, zero the rows whose mean |w| is below gain x the tensor's "
            "mean row mean (nncodec's FL code: 0.9); 0: off",
        ),  # fmt: skip
        "temporal_context": ParamSpec(
            "bool", False, doc="temporal context adaptation: CABAC contexts see the sender's previous update"
        ),
        **_hints(True),
    },
}

CODECS: tuple[str, ...] = tuple(CODEC_PARAM_SPECS)


def _check_name(name: str) -> dict[str, ParamSpec]:
    if name not in CODEC_PARAM_SPECS:
        raise ValueError(f"unknown codec {name!r}; known codecs: {', '.join(CODECS)}")
    return CODEC_PARAM_SPECS[name]


def resolve_codec_params(name: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults merged with `params`, every value checked. ValueError on unknown codec, key or value."""
    specs = _check_name(name)
    params = {} if params is None else params
    if not isinstance(params, Mapping):
        raise ValueError(f"params: must be a mapping of parameter names to values, got {params!r}")
    unknown = sorted(set(params) - set(specs))
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown parameter of codec {name!r}; known parameters: {', '.join(specs)}")
    return {key: spec.check(key, params[key]) if key in params else spec.default for key, spec in specs.items()}


def validate_codec_params(name: str, params: Mapping[str, Any]) -> None:
    """Raise ValueError such as ``qp: must be an integer in [-64, 64], got 3.5``; imports no torch/nncodec."""
    resolve_codec_params(name, params)


def wrapper_hints(name: str, params: Mapping[str, Any] | None = None) -> dict[str, bool]:
    """``{"error_feedback": ..., "difference_coding": ...}`` resolved with defaults, for the learner.

    How the learning layer should use them (per sender: each client uplink, and the server downlink)::

        codec = make_codec(name, params)
        hints = wrapper_hints(name, params)
        sender = DifferenceCoder(codec) if hints["difference_coding"] else codec     # one per link
        receiver = DifferenceCoder(make_codec(name, params)) if hints["difference_coding"] else codec
        if hints["error_feedback"]:
            sender = ErrorFeedback(sender)           # sender.encode(update) -> (payload, decoded)
    """
    resolved = resolve_codec_params(name, params)
    return {"error_feedback": resolved["error_feedback"], "difference_coding": resolved["difference_coding"]}
