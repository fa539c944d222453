"""A whole run: a `Simulation` played round by round into a staged run directory, published when complete."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fedwireless.outputs.columns import (
    AGGREGATION_COLUMNS,
    ASYNC_DEVICE_KINDS,
    DEVICE_KINDS,
    ROUND_COLUMNS,
    SEMI_SYNC_DEVICE_KINDS,
)
from fedwireless.outputs.files import (
    check_output,
    publish,
    remove_stale_staging,
    staging_dir,
    write_json,
    write_marker,
    write_yaml,
)
from fedwireless.outputs.layout import (
    AGGREGATIONS_FILE,
    DEVICES_FILE,
    ROUNDS_FILE,
    SCENARIO_FILE,
    SUMMARY_FILE,
    TIMING_FILE,
)
from fedwireless.outputs.tables import TableWriter, choose_format, write_rows
from fedwireless.scenario import Scenario, scenario_to_dict
from fedwireless.sim.loop import Simulation
from fedwireless.sim.remote import RayTrainer, check_remote
from fedwireless.sim.rows import table_columns
from fedwireless.version import __version__

# Draws a finished run's plots: (run directory, title) -> the files it wrote. The faces (CLI, API) pass
# `fedwireless.plotting.plot_run`; the simulation itself draws nothing.
Drawer = Callable[[Path, str], list[Path]]


class RunCallbacks:
    """Hooks for progress display; the default does nothing."""

    def setup_status(self, message: str) -> None: ...

    def start(self, total_rounds: int) -> None: ...

    def round_done(self, row: dict[str, Any]) -> None: ...


def default_out_dir(sc: Scenario) -> Path:
    return Path(sc.output.dir) if sc.output.dir else Path("runs") / sc.name


def _play(sim: Simulation, stage: Path, cb: RunCallbacks) -> None:
    """Every round of `sim`, its tables written into `stage` (device rows streamed as the rounds go)."""
    sc, fmt = sim.sc, sim.sc.output.format
    per_round = sim.world.num_devices if sim.device_row_ids is None else len(sim.device_row_ids)
    kinds = DEVICE_KINDS | (SEMI_SYNC_DEVICE_KINDS if sc.federated.mode == "semi-sync" else {})
    kinds = ASYNC_DEVICE_KINDS if sc.federated.mode == "async" else kinds
    devices = TableWriter(stage / DEVICES_FILE, choose_format(fmt, per_round * sc.rounds), kinds)
    sim.device_sink = devices.write  # rows go to the file round by round, never all in memory
    try:
        cb.start(sc.rounds)
        for _ in range(sc.rounds):
            cb.round_done(sim.step())
            if sim.diverged_round is not None:
                break  # training blew up: the rounds after it would only repeat non-numbers
            if sim.finished:
                break  # an asynchronous run's simulated duration is reached
        sim.finish()
    except BaseException:
        devices.abort()
        raise
    finally:
        sim.device_sink = None  # later steps (a caller's own) keep their rows in memory again
    devices.close()
    small = choose_format(fmt, sc.rounds + 1)
    write_rows(stage / ROUNDS_FILE, small, sim.round_rows, table_columns(ROUND_COLUMNS, sim.round_rows))
    write_rows(stage / TIMING_FILE, small, sim.timing_rows, table_columns([], sim.timing_rows))
    if sim.edges is not None:
        write_rows(stage / AGGREGATIONS_FILE, small, sim.edges.events, list(AGGREGATION_COLUMNS))
    for name, blob in sim.learner.artifacts().items():
        (stage / name).write_bytes(blob)


def run_scenario(
    sc: Scenario,
    out_dir: Path | None = None,
    *,
    callbacks: RunCallbacks | None = None,
    cache_dir: Path | None = None,
    draw: Drawer | None = None,
    on_setup: Callable[[Simulation], None] | None = None,
    overwrite: bool = False,
    backend: str = "local",
    address: str | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Run a whole scenario and publish its run directory; return the summary.

    Nothing appears under `out_dir` until the run has finished; on any error the staging folder is
    removed and the exception propagates. An existing `out_dir` is replaced only if fedwireless wrote
    it and `overwrite` is set (`OutputError` otherwise, raised before any work). `draw` plots the run
    (when the scenario's `output.plots` is on) before it is published.
    """
    out = Path(out_dir) if out_dir is not None else default_out_dir(sc)
    check_output(out, overwrite)
    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be local or ray, got {backend!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if backend == "local" and (workers is not None or address is not None):
        raise ValueError("--workers and --address apply to --backend ray only")
    if backend == "ray":
        check_remote(sc)
    remove_stale_staging(out)
    cb = callbacks or RunCallbacks()
    t0 = time.perf_counter()
    stage = staging_dir(out)
    if stage.exists():
        shutil.rmtree(stage)
    remote = None
    try:
        sim = Simulation(sc, cache_dir=cache_dir, status=cb.setup_status)
        if backend == "ray":
            cb.setup_status("starting the Ray actors (each builds the learner once)")
            remote = RayTrainer(scenario_to_dict(sc), workers=workers, address=address, cache_dir=cache_dir)
            sim.learner.remote = remote
        if on_setup is not None:
            on_setup(sim)
        stage.mkdir(parents=True)
        write_marker(stage, "run")
        write_yaml(
            stage / SCENARIO_FILE,
            scenario_to_dict(sc),
            header=f"# resolved scenario (defaults filled in), fedwireless {__version__}\n",
        )
        _play(sim, stage, cb)
        summary = sim.summary(time.perf_counter() - t0)
        if remote is not None:
            summary.update(backend="ray", ray_actors=len(remote.actors))
        if draw is not None and sc.output.plots:
            title = f"{sc.name} — policy {sc.policy.name}, seed {sc.seed}"
            summary["plots"] = [p.name for p in draw(stage, title)]
        summary["wall_time_s"] = time.perf_counter() - t0
        write_json(stage / SUMMARY_FILE, summary)  # last: its presence marks a finished run
        publish(stage, out, overwrite)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(stage)
        raise
    finally:
        if remote is not None:
            remote.close()
    summary["run_dir"] = str(out)
    return summary
