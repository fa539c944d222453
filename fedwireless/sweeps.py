"""Sweeps: a base scenario plus a grid (and zip) of overrides, one run directory per point.

Resumable: a point whose run directory has `summary.json` is finished and skipped; each run directory
is published atomically (`fedwireless.sim.run`), so a killed sweep loses no finished point. A failing point
records its error (in `index.csv` and its `error.txt`) and the sweep goes on. Every point is a pure
function of its scenario and seed, so results do not depend on the number of workers or the backend.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from fedwireless import yamlio
from fedwireless.config_base import Section
from fedwireless.outputs.columns import SUMMARY_KEYS
from fedwireless.outputs.files import is_ours, write_csv, write_marker
from fedwireless.outputs.layout import ERROR_FILE, INDEX_FILE, SUMMARY_FILE
from fedwireless.scenario import (
    ScenarioError,
    apply_overrides,
    format_error,
    load_scenario_dict,
    scenario_to_dict,
    validate,
)

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class SweepConfig(Section):
    name: str | None = None
    base: str | None = None  # scenario file, relative to the sweep file
    scenario: dict[str, Any] | None = None  # or an inline scenario
    set: dict[str, Any] = Field(default_factory=dict)  # overrides applied to every point (dotted keys)
    grid: dict[str, list[Any]] = Field(default_factory=dict)  # Cartesian product
    zip: dict[str, list[Any]] = Field(default_factory=dict)  # varied together (equal lengths)
    out: str | None = None  # default: runs/sweeps/<name>

    @model_validator(mode="after")
    def _shape(self) -> SweepConfig:
        if (self.base is None) == (self.scenario is None):
            raise ValueError("give exactly one of `base` (a scenario file) or `scenario` (inline)")
        lengths = {len(v) for v in self.zip.values()}
        if len(lengths) > 1:
            raise ValueError(f"zip: every list must have the same length, got {sorted(lengths)}")
        for key, values in {**self.grid, **self.zip}.items():
            if not values:
                raise ValueError(f"{key}: needs at least one value")
        both = set(self.grid) & set(self.zip)
        if both:
            raise ValueError(f"keys in both grid and zip: {sorted(both)}")
        return self


@dataclass(frozen=True)
class Point:
    index: int
    point_id: str
    overrides: dict[str, Any]


def flatten(key: str, value: Any) -> dict[str, Any]:
    """A swept value as dotted leaf keys: policy={name: lyapunov, params: {V: 10}} -> policy.name, policy.params.V."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(f"{key}.{k}", v))
        return out
    return {key: value}


def _slug(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_")


def point_label(overrides: dict[str, Any]) -> str:
    """Every swept value, readable: name=lyapunov-V=10-seed=0 (names shortened to their last part)."""
    leaves: dict[str, Any] = {}
    for k, v in overrides.items():
        leaves.update(flatten(k, v))
    return "-".join(f"{k.split('.')[-1]}={_slug(v)}" for k, v in leaves.items())


def expand(cfg: SweepConfig) -> list[dict[str, Any]]:
    """Grid × zip overrides, in a stable order."""
    grid_keys = list(cfg.grid)
    zip_keys = list(cfg.zip)
    zip_rows = list(zip(*cfg.zip.values())) if zip_keys else [()]
    return [
        dict(zip(grid_keys, g)) | dict(zip(zip_keys, z))
        for g, z in itertools.product(itertools.product(*cfg.grid.values()), zip_rows)
    ]


def point_id(index: int, overrides: dict[str, Any], resolved: dict[str, Any]) -> str:
    """p007-name=lyapunov-V=10-seed=0-1a2b3c4d: the swept values plus a hash of the fully resolved scenario,
    so a point of an edited base scenario is a new point, never mistaken for a finished one."""
    digest = hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()[:8]
    label = point_label(overrides)
    if len(label) > 150:  # keep names usable as folder names; the hash keeps them unique
        label = label[:150].rstrip("-_")
    return f"p{index:03d}-{label}-{digest}" if label else f"p{index:03d}-{digest}"


@dataclass
class Sweep:
    name: str
    out_dir: Path
    base: dict[str, Any]
    points: list[Point]
    keys: list[str]


def load_sweep(path: str | Path, out: str | Path | None = None) -> Sweep:
    """Read and check a sweep file and every point's scenario; raise ScenarioError listing all problems."""
    p = Path(path)
    try:
        raw = yamlio.load_file(p)
    except yamlio.YamlError as exc:
        raise ScenarioError([str(exc)], str(p)[:200]) from None
    if not isinstance(raw, dict):
        raise ScenarioError([f"(top level): must be a mapping, got {type(raw).__name__}"], str(p))
    try:
        cfg = SweepConfig.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError([format_error(e, raw) for e in exc.errors()], str(p)) from None
    if cfg.base is not None:
        base = load_scenario_dict(p.parent / cfg.base)
    else:
        base = dict(cfg.scenario or {})
    if cfg.set:
        base = apply_overrides(base, cfg.set)
    name = cfg.name or p.stem
    problems = []
    if not SAFE_NAME.match(name) or ".." in name:
        problems.append(f"name: must be a plain folder name (letters, digits, . _ -; no / or ..), got {name!r}")
    points = []
    for i, ov in enumerate(expand(cfg)):
        where = f"point {i} ({point_label(ov)[:80]})"
        try:
            sc = validate(apply_overrides(base, ov), where)
        except ScenarioError as exc:
            problems += [f"{where}: {m}" for m in exc.messages]
            continue
        points.append(Point(i, point_id(i, ov, scenario_to_dict(sc)), ov))
    if problems:
        raise ScenarioError(problems, str(p))
    out_dir = Path(out or cfg.out or Path("runs") / "sweeps" / name)
    keys: dict[str, None] = {}
    for top in list(cfg.grid) + list(cfg.zip):  # each swept key's leaves together, in the file's order
        for pt in points:
            keys.update(dict.fromkeys(flatten(top, pt.overrides[top])))
    return Sweep(name, out_dir, base, points, list(keys))


def prepare_sweep_dir(out_dir: Path) -> None:
    """Create the sweep directory, or resume one fedwireless wrote; anything else is refused."""
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise ScenarioError([f"{out_dir}: exists and is not a sweep directory (a file or a link)"], "sweep")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not is_ours(out_dir):
        raise ScenarioError([f"{out_dir}: exists, is not empty and was not written by fedwireless"], "sweep")
    out_dir.mkdir(parents=True, exist_ok=True)
    if not is_ours(out_dir):
        write_marker(out_dir, "sweep")


def run_point(base: dict[str, Any], overrides: dict[str, Any], run_dir: str) -> dict[str, Any]:
    """Run one point (in a worker process). Returns the summary."""
    from fedwireless.sim.run import run_scenario

    sc = validate(apply_overrides(base, overrides), run_dir)
    return run_scenario(sc, Path(run_dir))


def _worker_init() -> None:
    # Each worker trains on one core: N workers on N cores beat N workers fighting over all of them.
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def _status(run_dir: Path) -> tuple[str, str]:
    if (run_dir / SUMMARY_FILE).is_file():
        return "done", ""
    if (run_dir / ERROR_FILE).is_file():
        return "failed", (run_dir / ERROR_FILE).read_text(encoding="utf-8").strip().splitlines()[-1][:300]
    return "pending", ""


def write_index(sweep: Sweep) -> list[dict[str, Any]]:
    """Rebuild index.csv from what is on disk (so a killed sweep's index is always right)."""
    rows = []
    for pt in sweep.points:
        run_dir = sweep.out_dir / pt.point_id
        status, error = _status(run_dir)
        row: dict[str, Any] = {"point_id": pt.point_id, "status": status, "run_dir": pt.point_id}
        for k, v in pt.overrides.items():
            row.update(flatten(k, v))
        if status == "done":
            summary = json.loads((run_dir / SUMMARY_FILE).read_text())
            row.update({k: summary.get(k) for k in SUMMARY_KEYS})
            row["policy"] = summary.get("policy")
            row["seed"] = summary.get("seed")
        row["error"] = error
        rows.append(row)
    cols = ["point_id", *sweep.keys, "status", "policy", "seed", *SUMMARY_KEYS, "run_dir", "error"]
    cols = list(dict.fromkeys(cols))
    sweep.out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(sweep.out_dir / INDEX_FILE, [{k: ("" if v is None else v) for k, v in r.items()} for r in rows], cols)
    return rows


def run_sweep(
    sweep: Sweep,
    *,
    workers: int = 1,
    backend: str = "local",
    address: str | None = None,
    point_fn: Callable[[dict[str, Any], dict[str, Any], str], dict[str, Any]] = run_point,
    on_done: Callable[[Point, str], None] | None = None,
) -> dict[str, int]:
    """Run every unfinished point; return counts of done, failed and skipped points."""
    prepare_sweep_dir(sweep.out_dir)
    (sweep.out_dir / "sweep-base.yaml").write_text(yaml.safe_dump(sweep.base, sort_keys=False), encoding="utf-8")
    todo = []
    skipped = 0
    for pt in sweep.points:
        run_dir = sweep.out_dir / pt.point_id
        if (run_dir / SUMMARY_FILE).is_file():
            skipped += 1
            continue
        if run_dir.exists() or run_dir.is_symlink():  # an earlier failure of ours: try again cleanly
            if not is_ours(run_dir):
                raise ScenarioError([f"{run_dir}: exists and was not written by fedwireless; move it away"], "sweep")
            shutil.rmtree(run_dir)
        todo.append(pt)
    counts = {"done": 0, "failed": 0, "skipped": skipped}

    def finished(pt: Point, error: BaseException | str | None) -> None:
        if error is not None:
            run_dir = sweep.out_dir / pt.point_id
            run_dir.mkdir(parents=True, exist_ok=True)
            write_marker(run_dir, "failed point")
            text = error if isinstance(error, str) else "".join(traceback.format_exception(error))
            (run_dir / ERROR_FILE).write_text(text, encoding="utf-8")
            counts["failed"] += 1
        else:
            counts["done"] += 1
        write_index(sweep)
        if on_done:
            on_done(pt, "failed" if error is not None else "done")

    if backend == "ray":
        _run_ray(sweep, todo, address, point_fn, finished)
    elif workers <= 1:
        for pt in todo:
            try:
                point_fn(sweep.base, pt.overrides, str(sweep.out_dir / pt.point_id))
                finished(pt, None)
            except Exception as exc:  # a failing point must not stop the sweep
                finished(pt, exc)
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_worker_init) as pool:
            futures = {
                pool.submit(point_fn, sweep.base, pt.overrides, str(sweep.out_dir / pt.point_id)): pt for pt in todo
            }
            for fut in as_completed(futures):
                exc = fut.exception()
                finished(futures[fut], exc)
    write_index(sweep)
    return counts


def _run_ray(sweep: Sweep, todo: list[Point], address: str | None, point_fn, finished) -> None:
    try:
        import ray
    except ImportError:
        raise ScenarioError(
            ["--backend ray needs Ray: pip install 'fedwireless[ray]' (or pip install ray)"], "sweep"
        ) from None
    started = False
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        started = True
    try:
        remote = ray.remote(num_cpus=1)(point_fn)
        refs = {remote.remote(sweep.base, pt.overrides, str(sweep.out_dir.resolve() / pt.point_id)): pt for pt in todo}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            ref = ready[0]
            try:
                ray.get(ref)
                finished(refs[ref], None)
            except Exception as exc:  # RayTaskError carries the worker's traceback in its text
                finished(refs[ref], "".join(traceback.format_exception(exc)))
    finally:
        if started:
            ray.shutdown()
