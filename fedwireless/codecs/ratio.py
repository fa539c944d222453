"""Compression ratio of a federated round as NNCodec's FL paper counts it.

Source: "Efficient Federated Learning Tiny Language Models for Mobile Network Feature Prediction"
(arXiv 2504.01947), §III: per round, K clients each upload one update and the server broadcasts
one update to each of the K clients, against 2K float32 transfers of all P parameters:

    CR = (sum_k client_bytes_k + K * server_broadcast_bytes) / (2 * K * 4 * P)

(The paper reports 0.16-1.52 % for its TLMs.) Over R rounds the byte counts are summed and the
denominator is R * 2K * 4P.
"""

from __future__ import annotations

from collections.abc import Sequence

FLOAT32_BYTES = 4


def _check(name: str, value: float, positive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (positive and value == 0):
        rule = "> 0" if positive else ">= 0"
        raise ValueError(f"{name}: must be a number {rule}, got {value!r}")


def paper_compression_ratio(
    client_bytes_total: float, server_broadcast_bytes: float, num_clients: int, num_params: int
) -> float:
    """(client_bytes_total + K * server_broadcast_bytes) / (2K * 4 bytes * num_params), one round.

    `client_bytes_total` sums the K uploads; `server_broadcast_bytes` is one downlink payload.
    """
    _check("client_bytes_total", client_bytes_total, positive=False)
    _check("server_broadcast_bytes", server_broadcast_bytes, positive=False)
    _check("num_clients", num_clients, positive=True)
    _check("num_params", num_params, positive=True)
    return (client_bytes_total + num_clients * server_broadcast_bytes) / (2 * num_clients * FLOAT32_BYTES * num_params)


def paper_compression_ratio_rounds(
    client_bytes_per_round: Sequence[float],
    server_broadcast_bytes_per_round: Sequence[float],
    num_clients: int | Sequence[int],
    num_params: int,
) -> float:
    """The same ratio over R rounds: Σ_r numerator_r / Σ_r (2·K_r·4·num_params).

    `num_clients` is K for every round, or K_r per round (clients that trained); with a constant K this
    is the mean of the per-round ratios.
    """
    if len(client_bytes_per_round) != len(server_broadcast_bytes_per_round) or not client_bytes_per_round:
        raise ValueError(
            "client_bytes_per_round, server_broadcast_bytes_per_round: must be non-empty, equal lengths, "
            f"got {len(client_bytes_per_round)} and {len(server_broadcast_bytes_per_round)}"
        )
    ks = [num_clients] * len(client_bytes_per_round) if isinstance(num_clients, int) else list(num_clients)
    if len(ks) != len(client_bytes_per_round):
        raise ValueError(f"num_clients: one count per round ({len(client_bytes_per_round)}), got {len(ks)}")
    _check("num_params", num_params, positive=True)
    numerator = denominator = 0.0
    for c, s, k in zip(client_bytes_per_round, server_broadcast_bytes_per_round, ks):
        _check("client_bytes", c, positive=False)
        _check("server_broadcast_bytes", s, positive=False)
        _check("num_clients", k, positive=False)
        numerator += c + k * s
        denominator += 2 * k * FLOAT32_BYTES * num_params
    if denominator == 0:
        raise ValueError("num_clients: no round had a client")
    return numerator / denominator


def bytes_per_param(payload_bytes: float, num_params: int) -> float:
    """Payload size per parameter (float32 uncompressed = 4.0)."""
    _check("payload_bytes", payload_bytes, positive=False)
    _check("num_params", num_params, positive=True)
    return payload_bytes / num_params
