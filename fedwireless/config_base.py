"""Base class for every scenario section: frozen, unknown keys rejected."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A scenario section. Unknown keys are errors; values never change after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)
