"""Run directories: written in a hidden staging folder and renamed into place only when complete.

An interrupted run therefore leaves no `summary.json` (the mark of a finished run) and no file that
looks complete under the final name.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

# Every directory fedwireless writes results into carries this file; only such directories are ever replaced.
RESULTS_MARKER = ".fedwireless"
_STAGING = re.compile(r"^\.(?P<name>.+)\.(?:partial|old)-(?P<pid>\d+)$")


class OutputError(ValueError):
    """An output path fedwireless must not write to (exit 2, nothing written)."""


def write_marker(directory: Path, kind: str) -> None:
    (directory / RESULTS_MARKER).write_text(json.dumps({"written_by": "fedwireless", "kind": kind}) + "\n")


def is_ours(directory: Path) -> bool:
    """True for a real directory (not a link) that fedwireless wrote."""
    return directory.is_dir() and not directory.is_symlink() and (directory / RESULTS_MARKER).is_file()


def check_output(out_dir: Path, overwrite: bool) -> None:
    """Refuse any target that is not free, or not a previous fedwireless result (and then only with overwrite)."""
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise OutputError(f"{out_dir}: exists and is not a results directory (a file or a link); choose another --out")
    if out_dir.is_dir():
        if not is_ours(out_dir):
            raise OutputError(
                f"{out_dir}: exists and was not written by fedwireless; it is never replaced, choose another --out"
            )
        if not overwrite:
            raise OutputError(
                f"{out_dir}: holds a previous run; pass --overwrite to replace it, or choose another --out"
            )


def staging_dir(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(out_dir: Path) -> list[Path]:
    """Remove staging and replaced folders of `out_dir` left by killed processes (ours only, owner dead)."""
    removed = []
    if not out_dir.parent.is_dir():
        return removed
    for entry in out_dir.parent.iterdir():
        m = _STAGING.match(entry.name)
        mine = m is not None and m["name"] == out_dir.name and int(m["pid"]) != os.getpid()
        if mine and not _alive(int(m["pid"])) and is_ours(entry):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def publish(staging: Path, out_dir: Path, overwrite: bool = False) -> None:
    """Move a finished staging folder to out_dir; a previous fedwireless run there is replaced only with overwrite."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    check_output(out_dir, overwrite)
    old = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        out_dir.rename(old)
    staging.rename(out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        # repr gives the shortest string that round-trips: byte-identical across runs and platforms.
        return repr(value)
    if isinstance(value, bool):
        return int(value)
    return value


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> None:
    cols = list(columns) if columns is not None else _union_keys(rows)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow([_cell(r.get(c, float("nan"))) for c in cols])
    tmp.replace(path)


def _union_keys(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for r in rows:
        for k in r:
            seen.setdefault(k, None)
    return list(seen)


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_json_safe(data), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def _json_safe(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if hasattr(x, "item") and callable(x.item):  # numpy scalars
        return _json_safe(x.item())
    return x


def write_yaml(path: Path, data: Mapping[str, Any], header: str = "") -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(header + yaml.safe_dump(dict(data), sort_keys=False), encoding="utf-8")
    tmp.replace(path)


def git_commit() -> str:
    """The commit of the fedwireless checkout, or 'unknown' outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
