"""Sweeps: expansion, validation of every point, resume, failure isolation, worker-count independence, plots."""

from __future__ import annotations

import pytest
import yaml

from fedwireless.cli import main
from fedwireless.plotting import pareto_front, plot_sweep
from fedwireless.scenario import ScenarioError
from fedwireless.sweeps import SweepConfig, expand, load_sweep, run_sweep

SCENARIO = {
    "rounds": 4,
    "deadline_s": 5.0,
    "devices": [{"count": 6, "energy_budget_j": 0.05, "compute": {"j_per_flop": 1e-10}}],
    "federated": {"ranks": [4, 8, 16]},
    "surrogate": {},
    "output": {"plots": False},
}


def sweep_file(tmp_path, **body):
    f = tmp_path / "sweep.yaml"
    data = {"name": "t", "scenario": SCENARIO, "out": str(tmp_path / "out"), **body}
    f.write_text(yaml.safe_dump(data))
    return f


def test_grid_times_zip_with_stable_unique_ids(tmp_path):
    cfg = SweepConfig(
        scenario={},
        grid={"seed": [0, 1], "policy.name": ["uniform", "greedy"]},
        zip={"rounds": [2, 3], "deadline_s": [1.0, 2.0]},
    )
    overrides = expand(cfg)
    assert len(overrides) == 8
    assert overrides[1] == {"seed": 0, "policy.name": "uniform", "rounds": 3, "deadline_s": 2.0}
    f = sweep_file(tmp_path, grid=cfg.grid, zip=cfg.zip)
    points = load_sweep(f).points
    assert len({p.point_id for p in points}) == 8
    assert [p.point_id for p in points] == [p.point_id for p in load_sweep(f).points]
    assert points[1].point_id.startswith("p001-name=uniform-seed=0-deadline_s=2.0-rounds=3-")  # file order


def test_every_point_is_validated_before_anything_runs(tmp_path):
    f = sweep_file(tmp_path, grid={"policy.params.V": [1.0, -2.0]}, zip={})
    f.write_text(f.read_text().replace("surrogate: {}", "surrogate: {}\n  policy: {name: lyapunov}"))
    with pytest.raises(ScenarioError, match="V: must be a finite number > 0, got -2"):
        load_sweep(f)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ScenarioError, match="same length"):
        load_sweep(sweep_file(tmp_path, zip={"seed": [0, 1], "rounds": [2]}))


def test_resume_and_failure_isolation(tmp_path, capsys):
    # The second zip point names a local model whose config.json is not a model: it validates (the
    # directory looks right), but fails when the run loads it.
    f = sweep_file(
        tmp_path,
        grid={"policy": [{"name": "uniform"}, {"name": "lyapunov", "params": {"V": 5.0}}]},
        zip={"task.model.source": ["tiny-llama", "local"], "task.model.path": [None, str(tmp_path / "model")]},
    )
    f.write_text(f.read_text().replace("surrogate: {}", "surrogate: null"))
    tiny = {
        "task.model.hidden_size": 16,
        "task.model.num_layers": 1,
        "task.model.num_heads": 2,
        "task.model.num_kv_heads": 1,
        "task.model.intermediate_size": 32,
        "task.model.max_seq_len": 16,
        "task.pretrain.steps": 5,
        "task.dataset.num_train": 60,
        "task.dataset.num_test": 20,
        "task.dataset.num_public": 30,
        "task.local_steps": 1,
        "rounds": 2,
    }
    data = yaml.safe_load(f.read_text())
    for k, v in tiny.items():
        node = data["scenario"]
        parts = k.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = v
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("not a model config")
    f.write_text(yaml.safe_dump(data))
    assert main(["sweep", str(f), "--no-plots"]) == 1  # one point failed
    index = (tmp_path / "out" / "index.csv").read_text()
    assert index.count(",done,") == 2 and index.count(",failed,") == 2
    assert "model" in index.split(",failed,")[1]
    capsys.readouterr()
    # Rerun: finished points are skipped, failed ones are tried again (and fail again).
    assert main(["sweep", str(f), "--no-plots"]) == 1
    assert "skipped (already finished) 2" in capsys.readouterr().out


def test_same_results_whatever_the_number_of_workers(tmp_path):
    grid = {"seed": [0, 1], "policy": [{"name": "uniform"}, {"name": "lyapunov", "params": {"V": 2.0}}]}
    one = load_sweep(sweep_file(tmp_path, grid=grid), tmp_path / "w1")
    two = load_sweep(sweep_file(tmp_path, grid=grid), tmp_path / "w2")
    assert run_sweep(one, workers=1)["done"] == 4
    assert run_sweep(two, workers=2)["done"] == 4
    for pt in one.points:
        for table in ("rounds.csv", "devices.csv"):
            assert (tmp_path / "w1" / pt.point_id / table).read_bytes() == (
                tmp_path / "w2" / pt.point_id / table
            ).read_bytes()
    written = plot_sweep(tmp_path / "w1")
    names = {p.name for p in written}
    assert {
        "energy_vs_accuracy.png",
        "accuracy_per_policy.png",
        "accuracy_vs_uplink.png",
        "accuracy_vs_energy.png",
        "uplink_vs_accuracy.png",
        "device_energy_vs_budget.png",
    } <= names
    assert all(p.stat().st_size > 5000 for p in written)


def test_lyapunov_v_plot(tmp_path):
    grid = {"policy": [{"name": "lyapunov", "params": {"V": v}} for v in (0.1, 10.0, 1000.0)]}
    sweep = load_sweep(sweep_file(tmp_path, grid=grid), tmp_path / "v")
    run_sweep(sweep)
    assert "lyapunov_vs_V.png" in {p.name for p in plot_sweep(tmp_path / "v")}
    import pandas as pd

    drawn = pd.read_csv(tmp_path / "v" / "lyapunov_vs_V.csv").set_index("V")
    index = pd.read_csv(tmp_path / "v" / "index.csv").set_index("policy.params.V")
    assert list(drawn.index) == [0.1, 10.0, 1000.0]
    assert drawn.final_accuracy.to_numpy() == pytest.approx(index.loc[drawn.index, "final_accuracy"].to_numpy())


def test_pareto_front():
    pts = [(1.0, 0.5), (2.0, 0.7), (1.5, 0.4), (3.0, 0.7), (0.5, 0.2)]
    assert pareto_front(pts) == [4, 0, 1]


@pytest.mark.ray
def test_ray_backend_gives_the_same_results(tmp_path):
    import ray  # noqa: F401  (installed by `make test` through the dev extra: this test must run, not skip)

    grid = {"seed": [0, 1]}
    local = load_sweep(sweep_file(tmp_path, grid=grid), tmp_path / "local")
    remote = load_sweep(sweep_file(tmp_path, grid=grid), tmp_path / "ray")
    run_sweep(local)
    assert run_sweep(remote, backend="ray")["done"] == 2
    for pt in local.points:
        assert (tmp_path / "local" / pt.point_id / "rounds.csv").read_bytes() == (
            tmp_path / "ray" / pt.point_id / "rounds.csv"
        ).read_bytes()


def test_two_policies_three_seeds_plot_two_groups_of_three(tmp_path):
    import numpy as np
    import pandas as pd
    from scipy.stats import t

    f = sweep_file(tmp_path, grid={"seed": [0, 1, 2], "policy": [{"name": "uniform"}, {"name": "energy-min"}]})
    sweep = load_sweep(f)
    assert run_sweep(sweep)["done"] == 6
    plot_dir = tmp_path / "figures" / "new"  # does not exist yet: plot creates it
    assert main(["plot", str(sweep.out_dir), "--out", str(plot_dir)]) == 0
    drawn = pd.read_csv(plot_dir / "energy_vs_accuracy.csv").set_index("group")
    assert sorted(drawn.index) == ["energy-min", "uniform"]
    assert list(drawn.n) == [3, 3]
    index = pd.read_csv(sweep.out_dir / "index.csv")
    for group, policy in (("uniform", "uniform"), ("energy-min", "energy-min")):
        runs = index[index["policy.name"] == policy]
        acc = runs.final_accuracy.to_numpy()
        energy = []
        for run_dir in runs.run_dir:
            r = pd.read_csv(sweep.out_dir / run_dir / "rounds.csv")
            energy.append(r.energy_j.sum() / (6 * r["round"].max()))
        assert drawn.loc[group, "a"] == pytest.approx(acc.mean())
        assert drawn.loc[group, "e"] == pytest.approx(np.mean(energy))
        half = t.ppf(0.975, 2) * acc.std(ddof=1) / np.sqrt(3)
        assert drawn.loc[group, "a_ci95"] == pytest.approx(half)
        assert drawn.loc[group, "a_lo"] == pytest.approx(max(acc.mean() - half, 0.0))
        assert drawn.loc[group, "a_hi"] == pytest.approx(min(acc.mean() + half, 1.0))
        seeds = pd.read_csv(plot_dir / "energy_vs_accuracy_seeds.csv")
        mine = seeds[seeds.group == group].sort_values("seed")
        assert list(mine.seed) == [0, 1, 2]
        assert mine.final_accuracy.to_numpy() == pytest.approx(runs.sort_values("seed").final_accuracy.to_numpy())
    # Accuracy against cumulative uplink: per round, the seeds' mean of each run's running uplink sum.
    curve = pd.read_csv(plot_dir / "accuracy_vs_uplink.csv")
    runs = index[index["policy.name"] == "uniform"]
    tables = [pd.read_csv(sweep.out_dir / d / "rounds.csv") for d in runs.run_dir]
    drawn = curve[curve.group == "uniform"].set_index("round")
    last = int(tables[0]["round"].max())
    assert drawn.loc[last, "uplink_cum_bits"] == pytest.approx(np.mean([t_.uplink_bits.sum() for t_ in tables]))
    assert drawn.loc[last, "accuracy"] == pytest.approx(np.mean([t_.accuracy.iloc[-1] for t_ in tables]))
    assert drawn.loc[0, "uplink_cum_bits"] == 0 and list(drawn.n) == [3] * (last + 1)
    # Accuracy per round (mean over seeds) and each device's energy over its budget, recomputed by hand.
    per_round = pd.read_csv(plot_dir / "accuracy_per_policy.csv").query("group == 'uniform'").set_index("round")
    assert per_round.loc[last, "accuracy"] == pytest.approx(np.mean([t_.accuracy.iloc[-1] for t_ in tables]))
    assert per_round.loc[last, "accuracy_sd"] == pytest.approx(np.std([t_.accuracy.iloc[-1] for t_ in tables], ddof=1))
    boxes = pd.read_csv(plot_dir / "device_energy_vs_budget.csv")
    one = pd.read_csv(sweep.out_dir / runs.run_dir.iloc[0] / "devices.csv").query("device == 2")
    mine = boxes[(boxes.point == runs.point_id.iloc[0]) & (boxes.device == 2)].iloc[0]
    assert mine.energy_j == pytest.approx(one.energy_j.mean()) and mine.ratio == pytest.approx(mine.energy_j / 0.05)
    # Accuracy against cumulative energy, and the uplink per device-round of each setting, recomputed by hand.
    drawn = pd.read_csv(plot_dir / "accuracy_vs_energy.csv").query("group == 'uniform'").set_index("round")
    assert drawn.loc[last, "energy_cum_j"] == pytest.approx(np.mean([t_.energy_j.sum() for t_ in tables]))
    assert np.diff(drawn.energy_cum_j).min() > 0
    uplink = pd.read_csv(plot_dir / "uplink_vs_accuracy.csv").set_index("group")
    by_hand = np.mean([t_.uplink_bits.sum() / (8e3 * 6 * last) for t_ in tables])
    assert uplink.loc["uniform", "uplink_kb"] == pytest.approx(by_hand) and by_hand > 0
    assert uplink.loc["uniform", "a"] == pytest.approx(runs.final_accuracy.mean())


def test_energy_vs_accuracy_clips_intervals_names_coinciding_settings_and_rings_the_front(tmp_path):
    """Three seeds at accuracy 1, 1, 0.7 give a t-interval beyond 1: drawn and saved clipped to [0, 1]; a setting
    with the same seeds as another is named after it; only the settings no other dominates are Pareto-optimal."""
    import pandas as pd
    from scipy.stats import t

    from fedwireless.plotting.common import pyplot
    from fedwireless.plotting.sweep import _energy_vs_accuracy

    acc = [1.0, 1.0, 0.7]
    rows = [
        {"group": g, "point_id": f"{g}-{s}", "seed": s, "energy_per_device_round_j": e + 0.01 * s, "final_accuracy": a}
        for g, e, accs in (("a-greedy", 0.2, acc), ("b-energy-min", 0.2, acc), ("c-uniform", 0.5, [0.6, 0.7, 0.8]))
        for s, a in enumerate(accs)
    ]  # fmt: skip
    _energy_vs_accuracy(pyplot(), pd.DataFrame(rows), tmp_path)
    drawn = pd.read_csv(tmp_path / "energy_vs_accuracy.csv", keep_default_na=False).set_index("group")
    half = t.ppf(0.975, 2) * pd.Series(acc).std() / 3**0.5
    assert 0.9 + half > 1.0  # the unclipped interval would leave [0, 1]
    assert drawn.loc["a-greedy", "a_hi"] == 1.0 and drawn.loc["a-greedy", "a_lo"] == pytest.approx(0.9 - half)
    assert bool(drawn.loc["a-greedy", "clipped"]) and not bool(drawn.loc["c-uniform", "clipped"])
    assert drawn.loc["b-energy-min", "same_as"] == "a-greedy" and drawn.loc["a-greedy", "same_as"] == ""
    # c uses more energy for less accuracy than a and b: dominated. a and b tie, so neither dominates the other.
    assert [bool(drawn.loc[g, "pareto"]) for g in drawn.index] == [True, True, False]
    seeds = pd.read_csv(tmp_path / "energy_vs_accuracy_seeds.csv")
    assert len(seeds) == 9 and seeds.final_accuracy.tolist() == [r["final_accuracy"] for r in rows]


def test_run_plot_data_matches_the_device_table(tmp_path):
    import pandas as pd

    from fedwireless.plotting import draw_run
    from fedwireless.scenario import validate
    from fedwireless.sim.run import run_scenario

    run_scenario(validate({**SCENARIO, "name": "p", "output": {"plots": True}}), tmp_path / "run", draw=draw_run)
    drawn = pd.read_csv(tmp_path / "run" / "device_energy.csv").set_index("device")
    devices = pd.read_csv(tmp_path / "run" / "devices.csv")
    assert drawn.energy_j.to_numpy() == pytest.approx(devices.groupby("device").energy_j.mean().to_numpy())
    assert (drawn.budget_j == 0.05).all()


def test_run_accuracy_plot_draws_the_round_table(tmp_path, monkeypatch):
    """The accuracy figure's three panels, read back from the drawn lines: accuracy against round, simulated
    time and cumulative energy, each recomputed from rounds.csv."""
    import numpy as np
    import pandas as pd

    import fedwireless.plotting.run as run_plots
    from fedwireless.plotting import draw_run
    from fedwireless.scenario import validate
    from fedwireless.sim.run import run_scenario

    run_scenario(validate({**SCENARIO, "name": "p"}), tmp_path / "run", draw=draw_run)
    figures = {}
    real_save = run_plots.save

    def keep(fig, path):
        figures[path.name] = fig
        return real_save(fig, path)

    monkeypatch.setattr(run_plots, "save", keep)
    run_plots.plot_run(tmp_path / "run", tmp_path / "plots")
    rounds = pd.read_csv(tmp_path / "run" / "rounds.csv")
    axes = figures["accuracy.png"].axes
    xs = [rounds["round"], rounds["sim_time_s"], np.cumsum(rounds["energy_j"])]
    for ax, x in zip(axes, xs):
        (line,) = ax.get_lines()
        np.testing.assert_allclose(line.get_xdata(), x, rtol=1e-12)
        np.testing.assert_allclose(line.get_ydata(), rounds["accuracy"], rtol=1e-12)
    assert rounds["energy_j"].iloc[1:].gt(0).all()  # the energy axis really moves


def test_real_training_gives_the_same_index_with_one_or_two_workers(tmp_path):
    """The quickstart model at its default size (128 wide): with one worker the points train in this process at
    the default thread count, with two each worker trains on one thread. Same bytes either way."""
    from pathlib import Path

    quickstart = str(Path(__file__).resolve().parents[2] / "scenarios" / "quickstart.yaml")
    base = {"rounds": 2, "task.pretrain.steps": 50, "task.dataset.num_train": 600, "task.eval.max_samples": 200}
    body = {"base": quickstart, "set": base, "grid": {"seed": [0, 1]}}
    runs = {}
    for workers in (1, 2):
        f = tmp_path / f"sweep{workers}.yaml"
        f.write_text(yaml.safe_dump({"name": "real", "out": str(tmp_path / f"w{workers}"), **body}))
        sweep = load_sweep(f)
        assert run_sweep(sweep, workers=workers)["done"] == 2
        runs[workers] = sweep
    for pt in runs[1].points:
        for table in ("rounds.csv", "devices.csv"):
            one = (tmp_path / "w1" / pt.point_id / table).read_bytes()
            assert one == (tmp_path / "w2" / pt.point_id / table).read_bytes(), (pt.point_id, table)


def test_compression_and_reward_figures_read_back(tmp_path):
    """The compression figure's CSV holds each setting's per-round mean over seeds; the reward figure follows the
    same clipped-interval rules as the energy one with the reward as its metric."""
    import numpy as np
    import pandas as pd
    from scipy.stats import t

    from fedwireless.plotting.common import pyplot
    from fedwireless.plotting.sweep import _compression_per_round, _cost_vs_metric

    rounds = pd.DataFrame(
        [{"group": g, "point": f"{g}{s}", "round": r, "compression_ratio": c * (s + 1) / (r + 1),
          "accuracy": 0.1 * r + 0.01 * s, "all_tokens_accuracy": 0.5 + 0.05 * r}
         for g, c in (("none", 1.0), ("nnc", 0.01)) for s in range(2) for r in range(1, 4)]
    )  # fmt: skip
    _compression_per_round(pyplot(), rounds, tmp_path)
    curve = pd.read_csv(tmp_path / "compression_per_round.csv").set_index(["group", "round"])
    assert curve.loc[("nnc", 2), "compression_ratio"] == pytest.approx(0.01 * 1.5 / 3)
    assert curve.loc[("none", 3), "accuracy"] == pytest.approx(0.305)
    assert curve.loc[("none", 3), "all_tokens_accuracy"] == pytest.approx(0.65)
    runs = pd.DataFrame([{"group": g, "point_id": f"{g}{s}", "seed": s, "uplink_per_device_round_kb": u,
                          "final_reward": rw} for g, u, rws in (("pwff", 30.0, [0.9, 0.95, 1.0]),
                                                               ("local", 0.0, [0.5, 0.6, 0.7]))
                         for s, rw in enumerate(rws)])  # fmt: skip
    uplink = ("uplink_per_device_round_kb", "uplink_kb", "uplink (kB)")
    _cost_vs_metric(pyplot(), runs, tmp_path, uplink, ("final_reward", "reward", "reward"), "uplink_vs_reward")
    drawn = pd.read_csv(tmp_path / "uplink_vs_reward.csv").set_index("group")
    half = t.ppf(0.975, 2) * np.std([0.9, 0.95, 1.0], ddof=1) / np.sqrt(3)
    assert drawn.loc["pwff", "reward"] == pytest.approx(0.95) and drawn.loc["pwff", "reward_hi"] == 1.0
    assert drawn.loc["pwff", "reward_lo"] == pytest.approx(0.95 - half) and bool(drawn.loc["pwff", "clipped"])
    assert drawn.loc["local", "uplink_kb"] == 0 and bool(drawn.loc["local", "pareto"]) and drawn.loc["pwff", "pareto"]


def test_every_shipped_sweep_validates():
    """Each sweep under scenarios/sweeps/ loads with every point's scenario valid, as `fedwireless sweep` checks."""
    from pathlib import Path

    files = sorted((Path(__file__).resolve().parents[2] / "scenarios" / "sweeps").glob("*.yaml"))
    assert {f"reproduce-00{i}.yaml" for i in range(4)} <= {f.name for f in files}
    for f in files:
        assert load_sweep(f).points, f


def test_legend_labels_name_what_differs():
    """A label names each swept key with a value at the point (not the seed), the policy only where points
    differ in it (or nothing else tells them apart), integer-valued floats as integers, wrapped at 70 characters."""
    from fedwireless.plotting.sweep import _label

    keys = ["seed", "federated.codec.name", "federated.codec.params.qp", "task.model.size"]
    row = {"seed": 1, "federated.codec.name": "none", "federated.codec.params.qp": float("nan"),
           "task.model.size": 0.0}  # fmt: skip
    policy = {"name": "uniform", "params": {"rank": 0}}
    assert _label(row, keys, policy, show_policy=False) == "name=none, size=0"
    assert _label(row, keys, policy, show_policy=True) == "uniform rank=0, name=none, size=0"
    assert _label({"seed": 0}, ["seed"], policy, show_policy=False) == "uniform rank=0"
    long = _label({"a.b": "x" * 50, "c.d": "y" * 50}, ["a.b", "c.d"], policy, show_policy=False)
    assert long.split("\n") == ["b=" + "x" * 50 + ",", "d=" + "y" * 50]
