"""Base class for every scenario section: frozen, unknown keys rejected, numbers that are numbers."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

# Integers beyond ±2^53 are not sizes, counts or seeds anyone means (and lose exactness as floats).
MAX_INT = 2**53


def _numeric(annotation: Any) -> bool:
    """float, int, or an optional/union of them (not bool)."""
    if annotation in (float, int):
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(args) and all(a in (float, int) for a in args)
    return False


def _too_big(value: Any) -> int | None:
    """An integer (possibly inside a list) beyond ±MAX_INT, or None."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        return value
    if isinstance(value, (list, tuple)):
        for v in value:
            big = _too_big(v)
            if big is not None:
                return big
    return None


def _digits(value: int) -> str:
    return f"a {len(str(abs(value)))}-digit integer" if abs(value) >= 10**20 else str(value)


class Section(BaseModel):
    """A scenario section. Unknown keys are errors; values never change after validation.

    Floats must be finite (NaN and ±inf are refused), integers within ±2^53, and `true`/`false` is never a
    number.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bools_as_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                field = cls.model_fields.get(key) if isinstance(key, str) else None
                if field is not None and isinstance(value, bool) and _numeric(field.annotation):
                    raise ValueError(f"{key}: must be a number, got {value}")
                big = _too_big(value) if field is not None else None
                if big is not None:
                    raise ValueError(f"{key}: integers must lie within ±2^53 ({MAX_INT:,}), got {_digits(big)}")
        return data
