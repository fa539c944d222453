"""Every scenario the benchmarks build still validates (they are not run by `make test`, so check them here)."""

from __future__ import annotations

from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_benchmark_scenarios_validate(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_batched
    import bench_flower
    import bench_scale

    from fedwireless.scenario import validate

    for clients in (5, 20, 50):
        assert bench_batched.scenario(clients, True).num_devices == clients
        assert bench_flower.scenario(clients).num_devices == clients
    for k in (100, 1000, 3000, 10000):
        assert validate(bench_scale.scenario(k, 20)).num_devices == k
