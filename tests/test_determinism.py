"""One seed, one set of files: the quickstart model at its default size, in separate processes, at the
default thread count and at 1 and 4 threads, all running side by side (so each is under load).

Each process pre-trains its own base (its own cache), so pre-training is compared too. Before the batched
path stopped gathering rows per client, two runs side by side differed from the second round on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "scenarios" / "quickstart.yaml"
TABLES = ("rounds.csv", "devices.csv")


def _start(tmp_path: Path, name: str, threads: int | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["FEDWIRELESS_CACHE"] = str(tmp_path / f"cache-{name}")
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, "-m", "fedwireless.cli", "run", str(QUICKSTART), "--rounds", "3", "--seed", "11",
           "--set", "task.pretrain.steps=100", "--out", str(tmp_path / name), "--quiet", "--no-plots"]  # fmt: skip
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_same_files_across_processes_and_thread_counts(tmp_path):
    runs = {"default-a": None, "default-b": None, "one-thread": 1, "four-threads": 4}
    procs = {name: _start(tmp_path, name, threads) for name, threads in runs.items()}
    for name, p in procs.items():
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, f"{name}: {err[-2000:]}"
    for table in TABLES:
        want = (tmp_path / "default-a" / table).read_bytes()
        assert len(want.splitlines()) > 3
        for name in runs:
            assert (tmp_path / name / table).read_bytes() == want, f"{name}/{table} differs from default-a"
