"""The result columns, defined once: run tables (rounds.csv, devices.csv), the run summary's figures that a
sweep's index.csv repeats, and the drop reasons. Plots read these tables; the README documents them."""

from __future__ import annotations

ROUND_COLUMNS = [
    "round",
    "sim_time_s",
    "round_s",
    "accuracy",
    "loss",
    "energy_j",
    "compute_energy_j",
    "tx_energy_j",
    "uplink_bits",
    "uplink_attempted_bits",
    "uplink_delivered_bits",
    "downlink_bits",
    "compression_ratio",
    "selected",
    "arrived",
    "dropped",
]
DEVICE_COLUMNS = [
    "round",
    "device",
    "group",
    "base_station",
    "x_m",
    "y_m",
    "distance_m",
    "los",
    "gain_db",
    "snr_db",
    "available",
    "module",
    "rank",
    "power_w",
    "bandwidth_hz",
    "cpu_hz",
    "payload_bits",
    "uplink_bits",
    "delivered_bits",
    "flops",
    "downlink_s",
    "compute_s",
    "upload_s",
    "arrival_s",
    "compute_energy_j",
    "tx_energy_j",
    "energy_j",
    "packet_error_prob",
    "arrived",
    "drop_reason",
    "queue",
    "energy_budget_j",
    "topk",
    "eval_accuracy",
    "eval_loss",
    "eval_reward",
    "eval_reward_global",
]
DROP_REASONS = ("deadline", "packet-error", "no-link")
# Types of devices.csv's columns (the Parquet schema; CSV writes booleans as 0/1): the rest are floats.
INT_COLUMNS = ("round", "device", "rank", "payload_bits", "uplink_bits", "delivered_bits", "topk")
BOOL_COLUMNS = ("los", "available", "arrived")

# Figures of summary.json that index.csv repeats for every finished point (after the swept keys and status).
SUMMARY_KEYS = (
    "final_accuracy",
    "final_loss",
    "final_perplexity",
    "final_all_tokens_accuracy",
    "final_all_tokens_perplexity",
    "final_reward",
    "final_reward_global",
    "device_accuracy_mean",
    "device_accuracy_worst10",
    "compression_ratio",
    "total_energy_j",
    "sim_time_s",
    "total_uplink_bits",
    "total_uplink_attempted_bits",
    "total_uplink_delivered_bits",
    "total_downlink_bits",
    "updates_arrived",
    "rounds_without_training",
    "diverged",
    "wall_time_s",
)

# Text columns: an empty cell there is the empty string (no drop reason), not a missing number.
TEXT_COLUMNS = ("group", "base_station", "module", "drop_reason", "level", "station")
# Numeric columns whose empty cell is a documented absence, NaN in memory: no arrival, no energy budget, no
# per-device evaluation (surrogate, or a task without it), no pwff reward, a round with no coded update.
DEVICE_KINDS = {
    c: "int" if c in INT_COLUMNS else "bool" if c in BOOL_COLUMNS else "text" if c in TEXT_COLUMNS else "float"
    for c in DEVICE_COLUMNS
}
# Semi-synchronous rounds (`federated.mode: semi-sync`) add these: to devices.csv, the round an update trained in,
# its staleness when applied (−1: none) and whether it was still on its way at the close; to rounds.csv, the counts.
SEMI_SYNC_DEVICE_KINDS = {"base_round": "int", "staleness": "int", "late": "bool"}
SEMI_SYNC_ROUND_COLUMNS = ("late", "applied_late", "dropped_stale")
# Hierarchical rounds add to rounds.csv: the stations that aggregated, whether the cloud did, the backhaul's seconds.
HIERARCHICAL_ROUND_COLUMNS = ("edge_aggregations", "cloud_aggregation", "backhaul_s")
# ... and aggregations.csv, a row per aggregation: `level` edge (at a station, `count` updates), cloud (`count` edge
# models) or broadcast (`count` stations hold the global model), at `sim_time_s`, weighing `samples`.
AGGREGATION_COLUMNS = ("round", "level", "station", "sim_time_s", "count", "samples")
# Asynchronous runs (`federated.mode: async`): rounds.csv has a row per server step with these counts (model version
# after it, updates applied, their mean staleness, updates under way, arrivals in the FedBuff buffer, dropped as
# stale); devices.csv has a row per dispatch instead of per device and round, these columns, `round` the step it
# ended in.
ASYNC_ROUND_COLUMNS = ("version", "applied", "staleness_mean", "under_way", "buffered", "dropped_stale")
ASYNC_DEVICE_KINDS = {
    "round": "int", "dispatch": "int", "device": "int", "group": "text", "base_station": "text", "rank": "int",
    "base_version": "int", "staleness": "int", "weight": "float", "dispatch_s": "float", "arrival_s": "float",
    "power_w": "float", "bandwidth_hz": "float", "cpu_hz": "float", "payload_bits": "int", "uplink_bits": "int",
    "flops": "float", "downlink_s": "float", "compute_s": "float", "upload_s": "float", "compute_energy_j": "float",
    "tx_energy_j": "float", "energy_j": "float", "energy_budget_j": "float", "arrived": "bool", "applied": "bool",
    "drop_reason": "text",
}  # fmt: skip
MAY_BE_EMPTY = (
    "arrival_s",
    "weight",
    "energy_budget_j",
    "eval_accuracy",
    "eval_loss",
    "eval_reward",
    "eval_reward_global",
    "compression_ratio",
)
