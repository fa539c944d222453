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
        uplink_attempted_bits=int(sum(p.plan.uplink_bits for p in plays)),
        uplink_delivered_bits=int(sum(p.delivered_bits for p in plays)),
        downlink_bits=int(dl_bits * len(plays)),
        selected=selected,
        arrived=sum(p.arrived for p in plays),
        dropped=sum(not p.arrived for p in plays),
    )
    for reason in DROP_REASONS:
        row[f"dropped_{reason.replace('-', '_')}"] = sum(p.drop_reason == reason for p in plays)
    for key in sorted(terms):
        row[f"policy_{key}" if key in row else key] = float(terms[key])
    return row


def _module_name(ranks: tuple[int, ...], m: int) -> str:
    return "skip" if m < 0 else ("full" if ranks[m] == 0 else f"r{ranks[m]}")


def device_rows(
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
) -> list[dict[str, Any]]:
    """One row per device; `info` holds the method's per-device figures of the round (e.g. topk), `evals`
    the per-device metrics of the evaluation after it ([] without real learning)."""
    w = world
    by_dev = {p.device: p for p in plays}
    cell_bw = w.bs_ul_bandwidth_hz[w.serving]
    snr_db = channels.snr_db(w.p_max_w, gain, w.uplink_noise_psd(), cell_bw)
    dist = w.distance_m()
    los = w.serving_los()
    evals = list(evals) + [{}] * (w.num_devices - len(evals))
    nan = float("nan")
    rows = []
    for d in range(w.num_devices):
        p = by_dev.get(d)
        m = int(alloc.module[d])
        rows.append({
            "round": round_index,
            "device": d,
            "group": w.group_names[d],
            "base_station": w.bs_names[w.serving[d]],
            "x_m": float(w.pos_m[d, 0]),
            "y_m": float(w.pos_m[d, 1]),
            "distance_m": float(dist[d]),
            "los": bool(los[d]),
            "gain_db": float(channels.lin_to_db(gain[d])),
            "snr_db": float(snr_db[d]),
            "available": bool(available[d]),
            "module": _module_name(ranks, m),
            "rank": 0 if m < 0 else int(ranks[m]),
            "power_w": float(alloc.power_w[d]),
            "bandwidth_hz": float(alloc.bandwidth_hz[d]),
            "cpu_hz": float(alloc.cpu_hz[d]) if alloc.cpu_hz is not None and m >= 0 else 0.0,
            "payload_bits": p.plan.uplink_bits if p else 0,
            "uplink_bits": int(round(p.bits_sent)) if p else 0,
            "delivered_bits": p.delivered_bits if p else 0,
            "flops": p.plan.flops if p else 0.0,
            "downlink_s": p.plan.downlink_s if p else 0.0,
            "compute_s": p.compute_s if p else 0.0,
            "upload_s": p.upload_s if p else 0.0,
            "arrival_s": p.arrival_s if p else nan,
            "compute_energy_j": p.compute_energy_j if p else 0.0,
            "tx_energy_j": p.tx_energy_j if p else 0.0,
            "energy_j": float(p.compute_energy_j + p.tx_energy_j) if p else 0.0,
            "packet_error_prob": p.packet_error_prob if p else 0.0,
            "arrived": bool(p.arrived) if p else False,
            "drop_reason": (p.drop_reason if p else alloc.skip_reason[d]) or "",
            "queue": float(queue_before[d]),
            # Empty where the device has no budget (inf in memory).
            "energy_budget_j": float(w.energy_budget_j[d]) if np.isfinite(w.energy_budget_j[d]) else nan,
            # The global model on this device's own held-out rows (empty without real learning).
            "topk": int(info.get(d, {}).get("topk", 0)),
            "eval_accuracy": float(evals[d].get("accuracy", nan)),
            "eval_loss": float(evals[d].get("loss", nan)),
            # pwff: reward of the device's own model's answers, and of the global model's, at its preference.
            "eval_reward": float(evals[d].get("reward", nan)),
            "eval_reward_global": float(evals[d].get("reward_global", nan)),
        })  # fmt: skip
    return rows


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
