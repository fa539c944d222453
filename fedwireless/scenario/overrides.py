"""Command-line overrides: `key.path=value` pairs (`--set`) applied to a scenario mapping before validation."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fedwireless import yamlio
from fedwireless.scenario.errors import ScenarioError, shorten

_KEY_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _split_key(key: str) -> list[str | int]:
    if not key or key.startswith(".") or key.endswith(".") or ".." in key or not _KEY_PART.search(key):
        raise ScenarioError(
            [f"{shorten(key, 80)!r}: not a key path (write e.g. policy.params.V or devices[0].count)"], "--set"
        )
    parts: list[str | int] = []
    for m in _KEY_PART.finditer(key):
        name, index = m.groups()
        if index is not None:
            parts.append(int(index))
        elif name.isdigit():
            parts.append(int(name))
        else:
            parts.append(name)
    return parts


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of `data` with dotted keys set (`policy.params.V`, `devices[0].count`, `devices.0.count`).

    Missing mappings on the way are created; list indices must exist. Setting `policy.name` to another
    policy drops the old `policy.params`; `policy.params.*` overrides then apply to the new policy.
    """
    out = copy.deepcopy(dict(data))
    # Another policy starts from its own defaults: the old policy's params rarely mean anything to it.
    policy = out.get("policy")
    if "policy.name" in overrides and isinstance(policy, dict) and policy.get("name") != overrides["policy.name"]:
        policy.pop("params", None)
    for key, value in overrides.items():
        parts = _split_key(key)
        node: Any = out
        for depth, part in enumerate(parts[:-1]):
            where = key if depth == 0 else ".".join(str(p) for p in parts[: depth + 1])
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    size = len(node) if isinstance(node, list) else 0
                    raise ScenarioError([f"{where}: no list item {part} to override (list has {size})"], "--set")
                node = node[part]
            else:
                if not isinstance(node, dict):
                    raise ScenarioError([f"{where}: cannot set a key inside a {type(node).__name__}"], "--set")
                if node.get(part) is None:
                    # Lists of sections (devices, base stations) default to one entry: expand before indexing.
                    nxt = parts[depth + 1]
                    node[part] = [{}] if isinstance(nxt, int) and nxt == 0 else {}
                node = node[part]
        last = parts[-1]
        if isinstance(last, int):
            if not isinstance(node, list) or last >= len(node):
                raise ScenarioError([f"{key}: no list item {last} to override"], "--set")
            node[last] = value
        else:
            if not isinstance(node, dict):
                raise ScenarioError([f"{key}: cannot set a key inside a {type(node).__name__}"], "--set")
            node[last] = value
    return out


def parse_set_options(items: Sequence[str]) -> dict[str, Any]:
    """Parse `key.path=value` strings; values are read as YAML (so 10 is an int, [4, 8] a list)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ScenarioError([f"expected key.path=value, got {item!r}"], "--set")
        try:
            out[key.strip()] = yamlio.loads(raw) if raw.strip() else None
        except yamlio.YamlError as exc:
            if "invalid YAML" not in str(exc):
                raise ScenarioError([f"{shorten(key.strip(), 80)}: {exc}"], "--set") from None
            out[key.strip()] = raw  # not YAML at all: take the text as a string
    return out
