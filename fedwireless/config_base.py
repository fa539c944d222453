"""Base class for every scenario section: frozen, unknown keys rejected, numbers that are numbers."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


def _numeric(annotation: Any) -> bool:
    """float, int, or an optional/union of them (not bool)."""
    if annotation in (float, int):
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(args) and all(a in (float, int) for a in args)
    return False


class Section(BaseModel):
    """A scenario section. Unknown keys are errors; values never change after validation.

    Floats must be finite (NaN and ±inf are refused) and `true`/`false` is never a number.
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
        return data
