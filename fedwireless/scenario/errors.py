"""Scenario errors that name the YAML path, the rule and the value, e.g.
``devices[1].compute.flops_per_s: must be > 0, got -3``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any


class ScenarioError(ValueError):
    """A scenario that cannot be run. `messages` holds one line per problem, each naming its YAML path."""

    def __init__(self, messages: Sequence[str], source: str = "scenario") -> None:
        self.messages = list(messages)
        self.source = source
        super().__init__("\n".join(f"{source}: {m}" for m in self.messages))


def format_value(value: Any) -> str:
    """A short, safe rendering of a user's value: huge integers and nested structures are summarised."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    if isinstance(value, (Mapping, list, tuple)):
        return f"a {type(value).__name__} of {len(value)} item(s)"
    text = repr(value[:200]) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _yaml_path(data: Any, loc: Sequence[Any]) -> str:
    """Turn a pydantic error location into a YAML path, skipping discriminator tags it inserts."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int) and isinstance(node, list):
            parts.append(f"[{item}]")
            node = node[item] if item < len(node) else None
        elif isinstance(node, Mapping) and item in node:
            parts.append(("." if parts else "") + str(item))
            node = node[item]
        elif isinstance(node, Mapping) or node is None:
            # A key that is absent (missing field) or a union tag: keep real field names only.
            if isinstance(item, str) and not (isinstance(node, Mapping) and node.get("kind") == item):
                parts.append(("." if parts else "") + item)
            node = None
    return "".join(parts) or "(top level)"


_RULES = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "too_short": "must have at least {min_length} item(s)",
    "too_long": "must have at most {max_length} item(s)",
}


def format_error(err: Mapping[str, Any], data: Any) -> str:
    """One pydantic error as `path: rule, got value`, the path read from the user's own data."""
    path = _yaml_path(data, err["loc"])
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    if kind == "missing":
        return f"{path}: required, but missing"
    if kind == "extra_forbidden":
        return f"{path}: unknown key (check the spelling; `fedwireless schema` lists the keys)"
    if kind in _RULES:
        bounds = {k: (f"{v:g}" if isinstance(v, float) else v) for k, v in ctx.items()}
        return f"{path}: {_RULES[kind].format(**bounds)}, got {format_value(value)}"
    if kind == "literal_error":
        return f"{path}: must be one of {ctx.get('expected')}, got {format_value(value)}"
    if kind == "union_tag_invalid":
        return f"{path}.kind: must be one of {ctx.get('expected_tags')}, got {format_value(ctx.get('tag'))}"
    if kind == "union_tag_not_found":
        return f"{path}: needs a `kind` key"
    msg = str(err.get("msg", "invalid"))
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "value_error":
        field = re.match(r"^([A-Za-z_][A-Za-z0-9_]*): ", msg)
        if field and isinstance(value, Mapping) and field[1] in value:  # a section rule naming one of its keys
            path = field[1] if path == "(top level)" else f"{path}.{field[1]}"
            msg = msg[field.end() :]
        # Field rules add the value; rules over a whole section name their own fields and values.
        tail = "" if "got" in msg or isinstance(value, (Mapping, list)) else f", got {format_value(value)}"
        return f"{path}: {msg}{tail}"
    return f"{path}: {msg[:1].lower() + msg[1:]}, got {format_value(value)}"


def shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
