"""Aggregation of federated updates: pure functions over dicts of tensors (no models, no network).

A LoRA state maps `<module>.lora_A.weight` ([r, in]) and `<module>.lora_B.weight` ([out, r]) plus
any trainable non-LoRA tensors (the classification head). All ranks share the LoRA scale
alpha/r (alpha = alpha_per_rank·r), so products B·A are comparable across ranks.

- FedAvg: sample-weighted mean of A and B separately (and the head). With unequal ranks A and B are
  zero-padded to the largest rank first. Note mean(B)·mean(A) ≠ mean(B·A) (Wang et al. 2024, FLoRA).
- HetLoRA (Cho et al. 2024): zero-pad to r_max, weights ∝ p_k·‖B_k A_k‖_F (normalised); clients
  receive the global truncated to their rank.
- FlexLoRA (Bai et al. 2024): ΔW = Σ p_k B_k A_k per module; each client gets the top-r_k SVD
  factors, B = U_r·√S_r, A = √S_r·V_rᵀ.
- FLoRA (Wang et al. 2024): stack p_k·A_k along the rank dimension and B_k along the other, so that
  B_stack·A_stack = Σ p_k B_k A_k exactly; the global rank is Σ r_k.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

A_SUFFIX = ".lora_A.weight"
B_SUFFIX = ".lora_B.weight"

State = dict[str, torch.Tensor]


def lora_modules(state: State) -> list[str]:
    return sorted(k[: -len(A_SUFFIX)] for k in state if k.endswith(A_SUFFIX))


def other_keys(state: State) -> list[str]:
    return sorted(k for k in state if not (k.endswith(A_SUFFIX) or k.endswith(B_SUFFIX)))


def _weights(weights: Sequence[float]) -> torch.Tensor:
    w = torch.as_tensor(list(weights), dtype=torch.float64)
    if len(w) == 0 or torch.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights: must be non-negative with a positive sum, got {list(weights)}")
    return w / w.sum()


def weighted_mean(tensors: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    w = _weights(weights)
    out = torch.zeros_like(tensors[0], dtype=torch.float64)
    for t, wk in zip(tensors, w):
        out += wk * t.to(torch.float64)
    return out.to(tensors[0].dtype)


def pad_rank(a: torch.Tensor, b: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad A [r_k, in] and B [out, r_k] to rank r."""
    rk = a.shape[0]
    if rk > r:
        raise ValueError(f"rank {rk} exceeds the target rank {r}")
    a2 = torch.zeros((r, a.shape[1]), dtype=a.dtype)
    b2 = torch.zeros((b.shape[0], r), dtype=b.dtype)
    a2[:rk], b2[:, :rk] = a, b
    return a2, b2


def truncate_rank(state: State, r: int) -> State:
    """A global LoRA state cut to rank r (HetLoRA/FedAvg download)."""
    out = {}
    for k, v in state.items():
        if k.endswith(A_SUFFIX):
            out[k] = v[:r].clone()
        elif k.endswith(B_SUFFIX):
            out[k] = v[:, :r].clone()
        else:
            out[k] = v.clone()
    return out


def _mean_others(states: Sequence[State], w: Sequence[float]) -> State:
    return {k: weighted_mean([s[k] for s in states], w) for k in other_keys(states[0])}


def fedavg(states: Sequence[State], weights: Sequence[float], rank: int | None = None) -> State:
    """Sample-weighted mean of A, B (zero-padded to `rank`, default the largest arrived) and the other tensors."""
    r = rank or max(s[m + A_SUFFIX].shape[0] for s in states for m in lora_modules(s))
    out = _mean_others(states, weights)
    for m in lora_modules(states[0]):
        padded = [pad_rank(s[m + A_SUFFIX], s[m + B_SUFFIX], r) for s in states]
        out[m + A_SUFFIX] = weighted_mean([a for a, _ in padded], weights)
        out[m + B_SUFFIX] = weighted_mean([b for _, b in padded], weights)
    return out


def mix_late(global_state: State, states: Sequence[State], weights: Sequence[float], scale: Sequence[float],
             rank: int | None = None) -> State:  # fmt: skip
    """Updates of different staleness into the global model: x ← (1 − Σα)·x + Σ_k α_k·x_k with α_k = w_k·s_k / Σ_j w_j
    and s_k ≤ 1 each update's staleness weight. FedAvg when every s_k = 1; FedAsync's x ← (1 − α)·x + α·x_k for
    one update with α = s (Xie et al. 2019). A and B are mixed as FedAvg averages them (zero-padded to `rank`)."""
    scaled = [float(w) * float(s) for w, s in zip(weights, scale)]
    keep = float(sum(float(w) for w in weights)) - sum(scaled)
    if not keep > 0:
        return fedavg(states, scaled, rank)
    return fedavg([global_state, *states], [keep, *scaled], rank)


def buffered_step(global_state: State, states: Sequence[State], starts: Sequence[State], scale: Sequence[float],
                  server_lr: float, rank: int | None = None) -> State:  # fmt: skip
    """FedBuff's server step (Nguyen et al. 2022): x ← x + η·(1/K)·Σ_k s_k·(x_k − b_k), b_k the state update k trained
    from, s_k its staleness weight. A and B move by their own deltas, zero-padded to `rank` (FedAvg's factor space)."""
    coef = [float(server_lr) * float(s) / len(states) for s in scale]
    r = rank or max(v.shape[0] for k, v in global_state.items() if k.endswith(A_SUFFIX))
    out: State = {}
    for key in other_keys(global_state):
        acc = global_state[key].to(torch.float64).clone()
        for st, b, c in zip(states, starts, coef):
            acc += c * (st[key].to(torch.float64) - b[key].to(torch.float64))
        out[key] = acc.to(global_state[key].dtype)
    for m in lora_modules(global_state):
        a_key, b_key = m + A_SUFFIX, m + B_SUFFIX
        acc_a, acc_b = global_state[a_key].to(torch.float64).clone(), global_state[b_key].to(torch.float64).clone()
        for st, b, c in zip(states, starts, coef):
            da, db = pad_rank(st[a_key].to(torch.float64) - b[a_key].to(torch.float64),
                              st[b_key].to(torch.float64) - b[b_key].to(torch.float64), r)  # fmt: skip
            acc_a += c * da
            acc_b += c * db
        out[a_key], out[b_key] = acc_a.to(global_state[a_key].dtype), acc_b.to(global_state[b_key].dtype)
    return out


def hetlora(states: Sequence[State], weights: Sequence[float], rank: int | None = None) -> State:
    """Zero-pad to r_max; weights ∝ p_k·‖B_k A_k‖_F summed over modules, normalised."""
    p = _weights(weights)
    norms = torch.stack(
        [
            sum(
                torch.linalg.matrix_norm((s[m + B_SUFFIX] @ s[m + A_SUFFIX]).to(torch.float64)) for m in lora_modules(s)
            )
            for s in states
        ]
    )
    w = p * norms
    w = w / w.sum() if w.sum() > 0 else p
    out = fedavg(states, w.tolist(), rank)
    out.update(_mean_others(states, p.tolist()))  # the head is averaged by data share
    return out


def lora_product_sum(states: Sequence[State], weights: Sequence[float]) -> dict[str, torch.Tensor]:
    """Σ_k p_k B_k A_k per module (float64)."""
    p = _weights(weights)
    return {
        m: sum(pk * (s[m + B_SUFFIX].to(torch.float64) @ s[m + A_SUFFIX].to(torch.float64)) for s, pk in zip(states, p))
        for m in lora_modules(states[0])
    }


def rank_residuals(products: dict[str, torch.Tensor], ranks: Sequence[int]) -> dict[int, float] | None:
    """ε(r) = Σ_{i>r} σ_i² / Σ_i σ_i² over the singular values of every module's ΔW, index by index.

    The share of the aggregated update's energy that a rank-r module cannot carry. Ranks above the
    aggregate's own rank get 0: the spectrum beyond the largest trained rank is not observable.
    Rounded to 1e-6: LAPACK's last bits depend on the thread count, and a policy's decisions must not.
    None when an update is not finite.
    """
    energy: torch.Tensor | None = None
    for delta in products.values():
        if not bool(torch.isfinite(delta).all()):
            return None  # a diverged update says nothing about ranks
        s2 = torch.linalg.svdvals(delta.to(torch.float64)) ** 2
        if energy is None:
            energy = s2
        else:
            n = max(len(energy), len(s2))
            energy = torch.nn.functional.pad(energy, (0, n - len(energy))) + torch.nn.functional.pad(
                s2, (0, n - len(s2))
            )
    if energy is None or float(energy.sum()) <= 0:
        return {int(r): 0.0 for r in ranks}
    total = float(energy.sum())
    cum = torch.cumsum(energy, 0)
    out = {}
    for r in ranks:
        kept = float(cum[min(r, len(cum)) - 1]) if r > 0 else total
        out[int(r)] = round(max(0.0, 1.0 - kept / total), 6)
    return out


def svd_factors(delta: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-r factors of ΔW: B = U_r·√S_r [out, r], A = √S_r·V_rᵀ [r, in] (zero-padded if rank(ΔW) < r)."""
    u, s, vh = torch.linalg.svd(delta.to(torch.float64), full_matrices=False)
    k = min(r, s.shape[0])
    root = torch.sqrt(s[:k])
    b = torch.zeros((delta.shape[0], r), dtype=torch.float64)
    a = torch.zeros((r, delta.shape[1]), dtype=torch.float64)
    b[:, :k] = u[:, :k] * root
    a[:k] = root[:, None] * vh[:k]
    return a, b


def flexlora(states: Sequence[State], weights: Sequence[float]) -> tuple[dict[str, torch.Tensor], State]:
    """Returns (ΔW per module, the averaged other tensors); `flexlora_client_state` hands out factors."""
    return lora_product_sum(states, weights), _mean_others(states, weights)


def flexlora_client_state(deltas: dict[str, torch.Tensor], others: State, r: int, dtype=torch.float32) -> State:
    out = {k: v.clone() for k, v in others.items()}
    for m, d in deltas.items():
        a, b = svd_factors(d, r)
        out[m + A_SUFFIX], out[m + B_SUFFIX] = a.to(dtype), b.to(dtype)
    return out


def flora(states: Sequence[State], weights: Sequence[float]) -> State:
    """Stacked adapters: A_stack = [p_1 A_1; …; p_K A_K], B_stack = [B_1 … B_K]; B_stack·A_stack = Σ p_k B_k A_k."""
    p = _weights(weights)
    out = _mean_others(states, weights)
    for m in lora_modules(states[0]):
        out[m + A_SUFFIX] = torch.cat([(pk * s[m + A_SUFFIX].to(torch.float64)) for s, pk in zip(states, p)], dim=0).to(
            states[0][m + A_SUFFIX].dtype
        )
        out[m + B_SUFFIX] = torch.cat([s[m + B_SUFFIX] for s in states], dim=1)
    return out


def fedavg_deltas(deltas: Sequence[State], weights: Sequence[float]) -> State:
    """Full-parameter FedAvg of differential updates Δ_k = local − received."""
    return {k: weighted_mean([d[k] for d in deltas], weights) for k in deltas[0]}
