"""Rows of rounds.csv and devices.csv, and the run summary, from what a round decided and what it played."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import channels
import optimizers
from fedwireless.outputs.columns import DROP_REASONS
from fedwireless.sim.engine import DeviceOutcome
from fedwireless.sim.world import World

# Summary figures copied from the last round's row as `final_<name>` where the task reports them.
FINAL_EXTRAS = (
    "perplexity",
    "span_accuracy",
    "span_perplexity",
    "all_tokens_accuracy",
    "all_tokens_perplexity",
    "macro_f1",
    "balanced_accuracy",
    "majority_baseline",
    "reward",
    "reward_global",
)


def round_row(
    r: int,
    sim_time_s: float,
    round_s: float,
    metrics: dict[str, float],
    plays: Sequence[DeviceOutcome],
    selected: int,
    terms: dict[str, float],
    dl_bits: int,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "round": r,
        "sim_time_s": sim_time_s,
        "round_s": round_s,
        "accuracy": float(metrics["accuracy"]),
        "loss": float(metrics["loss"]),
    }
    for extra in sorted(set(metrics) - {"accuracy", "loss"}):
        row[extra] = float(metrics[extra])
    row.update(
        energy_j=float(sum(p.compute_energy_j + p.tx_energy_j for p in plays)),
        compute_energy_j=float(sum(p.compute_energy_j for p in plays)),
        tx_energy_j=float(sum(p.tx_energy_j for p in plays)),
        uplink_bits=int(round(sum(p.bits_sent for p in plays))),
        # An update carried in from an earlier round (semi-sync) was attempted, and broadcast to, when it started.
        uplink_attempted_bits=int(sum(p.plan.uplink_bits for p in plays if not p.carried)),
        uplink_delivered_bits=int(sum(p.delivered_bits for p in plays)),
        downlink_bits=int(dl_bits * sum(not p.carried for p in plays)),
        selected=selected,
        arrived=sum(p.arrived for p in plays),
        dropped=sum(not p.arrived and not p.late for p in plays),  # a late update (semi-sync) is not dropped
    )
    for reason in DROP_REASONS:
        row[f"dropped_{reason.replace('-', '_')}"] = sum(p.drop_reason == reason for p in plays)
    for key in sorted(terms):
        row[f"policy_{key}" if key in row else key] = float(terms[key])
    return row


def device_block(
    round_index: int,
    world: World,
    ranks: tuple[int, ...],
    alloc: optimizers.Allocation,
    plays: Sequence[DeviceOutcome],
    available: np.ndarray,
    gain: np.ndarray,
    queue_before: np.ndarray,
    info: dict[int, dict],
    evals: list[dict[str, float]],
    rows: np.ndarray | None = None,
    extra: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """The rows of devices.csv for a round, as columns, one row per device (or per device in `rows`); `info` holds
    the method's per-device figures of the round (e.g. topk), `evals` the per-device metrics of the
    evaluation after it ([] without real learning), `extra` the mode's own columns (semi-synchronous rounds)."""
    w, k = world, world.num_devices
    module = np.asarray(alloc.module, dtype=np.int64)
    trained = module >= 0
    names = np.array([f"r{r}" if r else "full" for r in ranks] + ["skip"], dtype=object)
    cell_bw = w.bs_ul_bandwidth_hz[w.serving]
    budget = np.where(np.isfinite(w.energy_budget_j), w.energy_budget_j, np.nan)  # no budget: empty
    cpu = np.where(trained, alloc.cpu_hz, 0.0) if alloc.cpu_hz is not None else np.zeros(k)
    cols: dict[str, np.ndarray] = {
        "round": np.full(k, round_index, dtype=np.int64),
        "device": np.arange(k, dtype=np.int64),
        "group": np.asarray(w.group_names, dtype=object),
        "base_station": np.asarray(w.bs_names, dtype=object)[w.serving],
        "x_m": w.pos_m[:, 0].astype(float),
        "y_m": w.pos_m[:, 1].astype(float),
        "distance_m": np.asarray(w.distance_m(), dtype=float),
        "los": np.asarray(w.serving_los(), dtype=bool),
        "gain_db": channels.lin_to_db(gain),
        "snr_db": np.asarray(channels.snr_db(w.p_max_w, gain, w.uplink_noise_psd(), cell_bw), dtype=float),
        "available": np.asarray(available, dtype=bool),
        "module": names[module],  # -1 (skip) indexes the last name
        "rank": np.where(trained, np.asarray(ranks, dtype=np.int64)[np.maximum(module, 0)], 0),
        "power_w": np.asarray(alloc.power_w, dtype=float),
        "bandwidth_hz": np.asarray(alloc.bandwidth_hz, dtype=float),
        "cpu_hz": np.asarray(cpu, dtype=float),
    }
    cols.update(_play_columns(k, plays, alloc.skip_reason))
    cols["queue"] = np.asarray(queue_before, dtype=float)
    cols["energy_budget_j"] = budget
    # The global model on each device's own held-out rows, and pwff's rewards (empty without real learning).
    cols["topk"] = np.zeros(k, dtype=np.int64)
    for d, figures in info.items():
        cols["topk"][d] = int(figures.get("topk", 0))
    for key in ("accuracy", "loss", "reward", "reward_global"):
        cols[f"eval_{key}"] = np.array([float(e.get(key, np.nan)) for e in evals] + [np.nan] * (k - len(evals)))
    cols.update(extra or {})
    if rows is not None:
        cols = {c: v[rows] for c, v in cols.items()}
    return cols


def _play_columns(k: int, plays: Sequence[DeviceOutcome], skip_reason: Sequence[str]) -> dict[str, np.ndarray]:
    """The played devices' figures; zeros (no arrival: NaN) for the devices that did not train."""
    ints = {c: np.zeros(k, dtype=np.int64) for c in ("payload_bits", "uplink_bits", "delivered_bits")}
    names = ("flops", "downlink_s", "compute_s", "upload_s", "arrival_s", "compute_energy_j", "tx_energy_j",
             "energy_j", "packet_error_prob")  # fmt: skip
    floats = {c: np.zeros(k) for c in names}
    floats["arrival_s"][:] = np.nan
    arrived = np.zeros(k, dtype=bool)
    reason = np.array([r or "" for r in skip_reason], dtype=object)
    for p in plays:
        d = p.device
        ints["payload_bits"][d] = p.plan.uplink_bits
        ints["uplink_bits"][d] = int(round(p.bits_sent))
        ints["delivered_bits"][d] = p.delivered_bits
        for c, v in (("flops", p.plan.flops), ("downlink_s", p.plan.downlink_s), ("compute_s", p.compute_s),
                     ("upload_s", p.upload_s), ("arrival_s", p.arrival_s), ("compute_energy_j", p.compute_energy_j),
                     ("tx_energy_j", p.tx_energy_j), ("energy_j", p.compute_energy_j + p.tx_energy_j),
                     ("packet_error_prob", p.packet_error_prob)):  # fmt: skip
            floats[c][d] = v
        arrived[d] = p.arrived
        reason[d] = p.drop_reason or ""
    return {**ints, **floats, "arrived": arrived, "drop_reason": reason}


def device_row_selection(output, num_devices: int, rng: np.random.Generator) -> np.ndarray | None:
    """Devices whose rows devices.csv keeps: None for all, a sorted fixed sample (`sampled`: round(rate · K),
    at least one), or none."""
    if output.device_rows == "all":
        return None
    if output.device_rows == "none":
        return np.zeros(0, dtype=np.int64)
    n = min(num_devices, max(1, round(output.device_rows_rate * num_devices)))
    return np.sort(rng.choice(num_devices, size=n, replace=False))


def block_rows(block: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """A block's rows as dicts (Python values), in column order."""
    cols = {c: v.tolist() for c, v in block.items()}
    return [dict(zip(cols, values)) for values in zip(*cols.values())]


def totals(round_rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The summary's sums over the trained rounds (round 0 is the initial evaluation)."""
    rr = round_rows[1:]
    return {
        "total_energy_j": float(sum(r["energy_j"] for r in rr)),
        "total_compute_energy_j": float(sum(r["compute_energy_j"] for r in rr)),
        "total_tx_energy_j": float(sum(r["tx_energy_j"] for r in rr)),
        "total_uplink_bits": int(sum(r["uplink_bits"] for r in rr)),
        "total_uplink_attempted_bits": int(sum(r["uplink_attempted_bits"] for r in rr)),
        "total_uplink_delivered_bits": int(sum(r["uplink_delivered_bits"] for r in rr)),
        "total_downlink_bits": int(sum(r["downlink_bits"] for r in rr)),
        "updates_selected": int(sum(r["selected"] for r in rr)),
        "updates_arrived": int(sum(r["arrived"] for r in rr)),
    }


def device_accuracy_summary(device_metrics: list[dict]) -> dict[str, float]:
    """Mean accuracy over devices and over the worst 10 % of them (at least one), from per-device metrics."""
    acc = np.sort([m["accuracy"] for m in device_metrics if "accuracy" in m])
    if len(acc) == 0:
        return {}
    worst = acc[: max(1, int(np.ceil(0.1 * len(acc))))]
    return {"device_accuracy_mean": float(acc.mean()), "device_accuracy_worst10": float(worst.mean())}


def table_columns(first: list[str], rows: list[dict[str, Any]]) -> list[str]:
    """`first`, then every other key the rows carry, in the order they first appear."""
    cols = list(first)
    for r in rows:
        for key in r:
            if key not in cols:
                cols.append(key)
    return cols
