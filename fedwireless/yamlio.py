"""A YAML reader for user files that cannot be turned against the user's machine.

Refuses what PyYAML's safe loader lets through: files over `MAX_FILE_BYTES`, text that is not UTF-8,
duplicate keys (YAML says keys are unique; PyYAML keeps the last one silently), nesting deeper than
`MAX_DEPTH` (Python's recursion limit otherwise), and aliases that expand beyond `MAX_NODES` nodes
(a "billion laughs" file is small on disk and gigabytes once walked). Numbers follow YAML 1.2: `1e3`
is the number 1000.0, as in JSON, not the string '1e3'.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_NODES = 200_000


class YamlError(ValueError):
    """A file or text that is not acceptable YAML for fedwireless; the message says why and where."""


# YAML 1.2 core schema floats (PyYAML resolves YAML 1.1, where 1e3 needs a dot and a sign: '1.0e+3').
_FLOAT_12 = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _StrictLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
        self._depth += 1
        if self._depth > MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise YamlError(f"line {mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):  # noqa: ANN001
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:
                continue  # an unhashable key: PyYAML reports it below
            if first != key_node.start_mark.line + 1:
                raise YamlError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r} (first on line {first})")
        return super().construct_mapping(node, deep=deep)


_FLOAT_TAG = "tag:yaml.org,2002:float"
_StrictLoader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
for _first in "-+0123456789.":
    _resolvers = _StrictLoader.yaml_implicit_resolvers.get(_first, [])
    _StrictLoader.yaml_implicit_resolvers[_first] = [(tag, rx) for tag, rx in _resolvers if tag != _FLOAT_TAG]
_StrictLoader.add_implicit_resolver(_FLOAT_TAG, _FLOAT_12, list("-+0123456789."))


def _expanded_size(obj: Any) -> int:
    """Nodes the value has once every alias is expanded, counted without expanding (memoised by identity)."""
    memo: dict[int, int] = {}

    def size(x: Any) -> int:
        if isinstance(x, (dict, list)):
            key = id(x)
            if key in memo:
                return memo[key]
            memo[key] = 1  # a cycle (a recursive alias) counts once and is refused by the budget below
            children = x.items() if isinstance(x, dict) else ((None, v) for v in x)
            total = 1 + sum(size(k) + size(v) for k, v in children)
            memo[key] = total
            return total
        return 1

    return size(obj)


def loads(text: str, source: str = "text") -> Any:
    """Parse YAML text with the limits above; YamlError names the line and the rule."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except YamlError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlError(f"invalid YAML: {where}{problem}") from None
    except RecursionError:
        raise YamlError(f"nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer of thousands of digits
        raise YamlError(f"unreadable value: {str(exc)[:120]}") from None
    if _expanded_size(data) > MAX_NODES:
        raise YamlError(f"aliases expand to more than {MAX_NODES:,} values (refused: an alias bomb?)")
    return data


def load_file(path: str | Path) -> Any:
    """Read and parse a user's YAML file; YamlError for unreadable, oversized, non-UTF-8 or empty files."""
    p = Path(path)
    try:
        if not p.is_file():
            raise YamlError("file not found")
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise YamlError(f"file is {size:,} bytes; scenario files are limited to {MAX_FILE_BYTES:,}")
        raw = p.read_bytes()
    except OSError as exc:
        raise YamlError(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})") from None
    data = loads(text, str(p))
    if data is None:
        raise YamlError("the file is empty (or only comments): write at least one section, e.g. `rounds: 10`")
    return data
