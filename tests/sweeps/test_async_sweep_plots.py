"""Sweeps with asynchronous points: accuracy at equal simulated time and at equal energy, read back."""

from __future__ import annotations

import pytest

from fedwireless.plotting import plot_sweep
from fedwireless.sweeps import load_sweep, run_sweep

from .test_sweep import SCENARIO, sweep_file


def test_asynchronous_points_plot_accuracy_at_equal_time_and_energy(tmp_path):
    """A sync and a FedBuff point (surrogate): the grid figures hold, at each simulated time (and cumulative
    energy), the last evaluated accuracy at or before it, recomputed here from each run's rounds.csv; the
    per-round figures leave the asynchronous point out."""
    import numpy as np
    import pandas as pd

    f = sweep_file(tmp_path, zip={"federated.mode": ["sync", "async"], "rounds": [4, 30]},
                   scenario={**SCENARIO, "federated": {"ranks": [4], "asynchronous": {
                       "algorithm": "fedbuff", "buffer_size": 2, "concurrency": 3}}})  # fmt: skip
    sweep = load_sweep(f)
    assert run_sweep(sweep)["done"] == 2
    written = {p.name for p in plot_sweep(sweep.out_dir)}
    assert {"accuracy_at_time.png", "accuracy_at_energy.png"} <= written
    index = pd.read_csv(sweep.out_dir / "index.csv")
    per_round = pd.read_csv(sweep.out_dir / "accuracy_per_policy.csv")
    assert len(set(per_round.group)) == 1 and "sync" in per_round.group.iloc[0]
    for what, column in (("time", "sim_time_s"), ("energy", "energy_cum_j")):
        drawn = pd.read_csv(sweep.out_dir / f"accuracy_at_{what}.csv")
        assert len(set(drawn.group)) == 2
        for (_, row), group in zip(index.iterrows(), sorted(set(drawn.group), key=lambda g: "async" in g)):
            r = pd.read_csv(sweep.out_dir / row.run_dir / "rounds.csv")
            r["energy_cum_j"] = r.energy_j.cumsum()
            r = r[r.accuracy.notna()]
            mine = drawn[drawn.group == group]
            assert len(mine) == 201
            for x, acc in zip(mine[column], mine.accuracy):
                if np.isclose(r[column], x, rtol=1e-8, atol=0).any():
                    continue  # the CSV's 9 digits cannot say on which side of an event this grid value lies
                if x > r[column].iloc[-1]:
                    assert np.isnan(acc)  # past the run's end: nothing drawn
                else:
                    assert acc == pytest.approx(r.accuracy[r[column] <= x].iloc[-1], rel=1e-8)  # CSV: 9 digits
    stepped = pd.read_csv(sweep.out_dir / index.run_dir[1] / "rounds.csv")
    assert stepped.evaluated.sum() < len(stepped) and stepped.accuracy.isna().any()  # FedBuff: not every step
