"""`fedwireless run --backend ray`: one run's clients trained on the actors of a two-worker local Ray cluster
give the local backend's tables, byte for byte; settings it cannot serve are refused by name."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fedwireless.scenario import load_scenario_dict, validate
from fedwireless.sim.remote import check_remote, shares_by_cost
from fedwireless.sim.run import run_scenario

QUICKSTART = Path(__file__).resolve().parents[2] / "scenarios" / "quickstart.yaml"


def quickstart(**federated) -> dict:
    data = load_scenario_dict(QUICKSTART)
    data.update(rounds=3, deadline_s=60.0)  # every selected client arrives: all of them trained and aggregated
    data["task"].update(pretrain={"steps": 40}, local_steps=3)
    data["federated"].update(federated)
    data["output"] = {"plots": False}
    return data


@pytest.fixture(scope="module")
def cluster():
    """A head node with no CPU and two worker nodes of one CPU each: two actors, each on its own node."""
    import ray
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(2):
        c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c
    if ray.is_initialized():
        ray.shutdown()
    c.shutdown()


def run_both(tmp_path: Path, cluster, data: dict) -> list[list[int]]:
    sc = validate(data)
    assert "backend" not in run_scenario(sc, tmp_path / "local")  # local runs' summaries are unchanged
    trainers = []
    summary = run_scenario(sc, tmp_path / "ray", backend="ray", address=cluster.address, workers=2,
                           on_setup=lambda sim: trainers.append(sim.learner.remote))  # fmt: skip
    assert summary["backend"] == "ray" and summary["ray_actors"] == 2
    for name in ("rounds.csv", "devices.csv"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "ray" / name).read_bytes(), name
    return trainers[0].rounds_sent


@pytest.mark.ray
def test_batched_groups_on_two_workers_give_the_local_tables(tmp_path, cluster):
    sent = run_both(tmp_path, cluster, quickstart(batch_group_size=3))
    assert len(sent) == 3 and all(len(shares) == 2 and min(shares) >= 3 for shares in sent)  # both actors train


@pytest.mark.ray
def test_one_by_one_with_persistent_optimizers_gives_the_local_tables(tmp_path, cluster):
    """Clients trained one at a time; each client's AdamW state travels to whichever actor trains it next."""
    data = quickstart(batch_clients=False)
    data["task"]["optimizer"] = {"persistent": True}
    sent = run_both(tmp_path, cluster, data)
    assert all(len(shares) == 2 for shares in sent)


@pytest.mark.parametrize(
    ("change", "named"),
    [({"surrogate": {}}, "surrogate"), ({"federated": {"training": "distill"}}, "federated.training"),
     ({"federated": {"aggregation": "flora"}}, "flora")],
)  # fmt: skip
def test_settings_it_cannot_serve_are_refused_by_name(change, named):
    data = quickstart()
    for key, value in change.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    with pytest.raises(ValueError, match=named):
        check_remote(validate(data))


def test_the_command_names_what_ray_cannot_run_and_writes_nothing(tmp_path, capsys):
    import yaml

    from fedwireless.cli import main

    data = quickstart()
    data["surrogate"] = {}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["run", str(path), "--backend", "ray", "--out", str(tmp_path / "out")]) == 2
    assert "surrogate" in capsys.readouterr().err and not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="--workers must be at least 1, got 0"):
        run_scenario(validate(quickstart()), tmp_path / "w", backend="ray", workers=0)
    with pytest.raises(ValueError, match="apply to --backend ray only"):
        run_scenario(validate(quickstart()), tmp_path / "w", workers=2)
    data = quickstart()
    data["task"]["device"] = "cuda"  # actors train on CPUs (and this machine has no GPU either)
    with pytest.raises(ValueError, match="cuda"):
        check_remote(validate(data))
    assert not (tmp_path / "w").exists()


@pytest.mark.ray
def test_more_workers_than_the_cluster_has_cpus_is_refused(tmp_path, cluster):
    with pytest.raises(ValueError, match="--workers 3: the Ray cluster has 2 CPUs"):
        run_scenario(validate(quickstart()), tmp_path / "w", backend="ray", address=cluster.address, workers=3)
    assert not (tmp_path / "w").exists()


@pytest.mark.ray
def test_the_api_runs_on_the_cluster(tmp_path, cluster):
    import fedwireless

    local = fedwireless.run(quickstart(batch_group_size=4), out=tmp_path / "local")
    remote = fedwireless.run(quickstart(batch_group_size=4), out=tmp_path / "ray", backend="ray",
                             address=cluster.address, workers=2)  # fmt: skip
    assert remote.summary["ray_actors"] == 2
    pd.testing.assert_frame_equal(local.devices, remote.devices)
    pd.testing.assert_frame_equal(local.rounds, remote.rounds)


def test_shares_balance_expected_cost():
    costs = [5.0, 1.0, 4.0, 2.0, 3.0, 3.0]
    shares = shares_by_cost(costs, 2)
    assert sorted(i for s in shares for i in s) == list(range(6))
    # Costliest first to the least loaded: 0 (5) -> A, 2 (4) -> B, 4 (3) -> B, 5 (3) -> A, 3 (2) -> B, 1 (1) -> A.
    assert shares == [[0, 1, 5], [2, 3, 4]]
    assert [sum(costs[i] for i in s) for s in shares] == [9.0, 9.0]
    assert shares_by_cost([1.0], 3) == [[0], [], []]
