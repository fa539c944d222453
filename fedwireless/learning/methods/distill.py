"""Federated distillation with channel-adaptive top-k logits (Seed 003, arXiv 2509.01750).

Knowledge travels as predictions, not weights. Each client keeps its own LoRA adapter (never averaged). Per
round a proxy batch of `distill.proxy_samples` public texts is drawn with the round's seed. A selected client
trains on its private rows with

    L = CE(private) + α·τ²·KL(q_global^τ ‖ p_client^τ) [+ λ·hidden term]   on the previous round's proxy batch,

(each step on a random subset of the proxy texts as large as its private batch), then runs its model on this
round's proxy batch and uploads, per output row (a text for classification; a
real token position for a causal LM), the top-k log-probabilities at temperature τ (`topk_logits`). The server
aggregates the sparse distributions (adaptive or zero-padded) into q_global for that batch and broadcasts its
top-k entries (k of the largest upload this round); clients read the broadcast back as a full distribution
the same way the adaptive aggregation fills unsent entries.

Variants: `adaptive` (k_n from the client's rate and upload window, the learner passes its bit budget;
adaptive aggregation), `fixed-k` (`distill.k` for all, zero-padded aggregation, the baseline), `full` (all V).
The metric of a round is the mean over devices of each device's own model on the test split; per-device
figures are each model on its device's held-out rows.

Devices of a group may run another model (`devices[].model` naming one of `task.models`): each model has its
own LoRA bank; all share the tokenizer, so their distributions live on the same vocabulary.

With `distill.hidden_weight` λ > 0 clients also send, per proxy text, the mean input hidden state of layer
`hidden_layer` projected through that layer's LoRA A (first target module, its first min(ranks) rows, so models
of different widths meet in one r-dimensional space); the server averages them (weights by data share) and the
local loss adds λ·mean‖z_client − z_global‖². Those bytes count in the payload and come off the top-k budget.

Not built yet (see the README): a payload model the policy plans with (it plans with `distill.k`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fedwireless.learning import aggregate as agg
from fedwireless.learning.evaluation import device_metrics, evaluate
from fedwireless.learning.methods.base import FederatedMethod, State
from fedwireless.learning.methods.lora import LoraMethod
from fedwireless.learning.methods.topk_logits import (
    adaptive_k,
    aggregate_topk,
    decode_hidden,
    decode_topk,
    encode_hidden,
    encode_topk,
    hidden_bytes,
    payload_bytes,
    split_payload,
)
from fedwireless.rng import child_seed


class DistillMethod(FederatedMethod):
    name = "distill"

    def __init__(self, model: torch.nn.Module, codec, *, task, federated, seeds, data, **_: object) -> None:
        if data.public_ids is None or len(data.public_ids) == 0:
            raise ValueError("federated.training: distill needs public text for the proxy batch (a text task)")
        # One LoRA adapter bank per model (devices of a group may run another model than `task.model`).
        self.banks: dict[str | None, LoraMethod] = {
            None: LoraMethod(model, codec, task=task, federated=federated, seeds=seeds)
        }
        for name, extra in data.extra_models.items():
            bank_seeds = child_seed(seeds, "bank", name)
            self.banks[name] = LoraMethod(extra, codec, task=task, federated=federated, seeds=bank_seeds)
        self.ranks = self.banks[None].ranks
        self.seeds = seeds
        self.fed = federated
        self._rank = self.ranks[0]
        self.cfg = federated.distill
        self.data = data
        self.classify = task.kind == "classification"
        self.personal: dict[int, State] = {}  # each device's own adapter (at the largest rank)
        self._device: int | None = None
        # (proxy rows, q over the vocabulary, global hidden projections or None), from the last aggregation
        self.teacher: tuple[np.ndarray, torch.Tensor, torch.Tensor | None] | None = None
        self._proxy_round = -1
        self._proxy: np.ndarray = np.zeros(0, dtype=np.int64)
        self._broadcast = b""

    def bank(self, device: int | None) -> LoraMethod:
        return self.banks[None if device is None or not self.data.device_model else self.data.device_model[device]]

    @property
    def model(self) -> torch.nn.Module:
        """The model of the device being trained (the learner's training loop runs it)."""
        return self.bank(self._device).model

    def trainable_count(self, rank: int, device: int | None = None) -> int:
        return self.bank(device).trainable_count(rank)

    def adapter_matmul(self, rank: int, device: int | None = None) -> int:
        return self.bank(device).adapter_matmul(rank)

    def trainable_params(self, rank: int) -> list[torch.nn.Parameter]:
        return self.bank(self._device).trainable_params(rank)

    def eval_model(self) -> torch.nn.Module:  # pragma: no cover - evaluate() covers distillation
        raise NotImplementedError("distillation has one model per device: see evaluate()")

    # ------------------------------------------------------------------ proxy batch and outputs
    def proxy(self, round_index: int) -> np.ndarray:
        """Public rows of a round's proxy batch (the same for every client of the round)."""
        if round_index != self._proxy_round:
            rng = np.random.default_rng(child_seed(self.seeds, "proxy", round_index))
            n = len(self.data.public_ids)
            self._proxy = np.sort(rng.choice(n, min(self.cfg.proxy_samples, n), replace=False))
            self._proxy_round = round_index
        return self._proxy

    def _outputs(self, model, rows: np.ndarray, rank: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """On the given public texts: output rows [R, V] of log-softmax(logits / τ), and with the hidden term
        on, each text's projected hidden state [N, r] (mean input of layer ℓ over real tokens, times A_ℓ)."""
        device = next(model.parameters()).device
        ids = torch.from_numpy(self.data.public_ids[rows]).to(device)
        mask = torch.from_numpy(self.data.public_mask[rows]).to(device)
        hidden = self.cfg.hidden_weight > 0
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=hidden)
        logits = out.logits
        if not self.classify:  # next-token distributions at every real position
            logits = logits[:, :-1][mask[:, 1:] == 1]
        log_p = torch.log_softmax(logits.float() / self.cfg.temperature, dim=-1)
        if not hidden:
            return log_p, None
        layers = len(out.hidden_states) - 1
        layer = self.cfg.hidden_layer % layers
        m = mask.unsqueeze(-1).float()
        pooled = (out.hidden_states[layer] * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)  # input of layer ℓ
        a = self._projection(model, layer, rank)  # [r_common, hidden]
        return log_p, pooled @ a.T

    def _projection(self, model, layer: int, rank: int) -> torch.Tensor:
        """Layer ℓ's LoRA A (first target module) at `rank`, its first min(ranks) rows: a common dimension."""
        target = self.fed.target_modules[0]
        for name, module in model.named_modules():
            if name.endswith((f"layers.{layer}.self_attn.{target}", f"layers.{layer}.mlp.{target}")):
                return module.lora_A[f"r{rank}"].weight[: min(self.ranks)]
        raise ValueError(f"federated.distill.hidden_layer: no LoRA {target} in layer {layer}")

    def vocab(self) -> int:
        config = self.banks[None].model.config
        return int(config.num_labels if self.classify else config.vocab_size)

    # ------------------------------------------------------------------ the seam
    def _own(self, device: int) -> State:
        bank = self.bank(device)
        return self.personal.get(device, bank.init_state[bank.r_max])

    def client_start(self, device: int, rank: int, round_index: int) -> State:
        self._device, self._rank = device, rank
        start = agg.truncate_rank(self._own(device), rank)
        self.bank(device).load_adapter(rank, start)
        return start

    def local_loss(self, loss_fn, device: int):
        if self.teacher is None:
            return loss_fn
        rows, q, z_global = self.teacher
        if self.cfg.alpha == 0 and (z_global is None or self.cfg.hidden_weight == 0):
            return loss_fn  # nothing to learn from the others
        tau2, alpha, lam = self.cfg.temperature**2, self.cfg.alpha, self.cfg.hidden_weight
        rank = self._rank
        # Output rows of each proxy text in q (one per text for classification; its real positions for an LM).
        per_text = np.ones(len(rows), dtype=np.int64) if self.classify else self.data.public_mask[rows, 1:].sum(axis=1)
        offsets = np.concatenate([[0], np.cumsum(per_text)])
        rng = np.random.default_rng(child_seed(self.seeds, "teacher-batches", self._proxy_round, device))

        def with_distillation(model, batch):
            # Each step distils on as many proxy texts as the private batch has rows (the teacher's batch).
            pick = np.sort(rng.choice(len(rows), min(len(batch[0]), len(rows)), replace=False))
            log_p, z = self._outputs(model, rows[pick], rank)
            loss = loss_fn(model, batch)
            if alpha > 0:
                q_rows = torch.from_numpy(np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in pick]))
                target = q[q_rows].to(log_p.device)
                kl = torch.nn.functional.kl_div(log_p, target, reduction="batchmean")  # KL(q ‖ p_client)
                loss = loss + alpha * tau2 * kl
            if z is not None and z_global is not None:
                loss = loss + lam * ((z.float() - z_global[torch.from_numpy(pick)].to(z.device)) ** 2).mean()
            return loss

        return with_distillation

    def client_state(self, rank: int) -> State:
        bank = self.bank(self._device)
        trained = bank.client_state(rank)
        padded = {k: v.clone() for k, v in self._own(self._device).items()}
        for m in agg.lora_modules(trained):
            a, b = agg.pad_rank(trained[m + agg.A_SUFFIX], trained[m + agg.B_SUFFIX], bank.r_max)
            padded[m + agg.A_SUFFIX], padded[m + agg.B_SUFFIX] = a, b
        for k in agg.other_keys(trained):
            padded[k] = trained[k]
        self.personal[self._device] = padded
        return trained

    def k_for(self, budget_bits: float | None, rows: int) -> int:
        vocab, cfg = self.vocab(), self.cfg
        if cfg.variant == "full":
            return vocab
        if cfg.variant == "fixed-k" or budget_bits is None:
            return min(cfg.k, vocab)
        return adaptive_k(budget_bits, 1.0, num_samples=rows, vocab=vocab, value_bits=cfg.value_bits, eta=cfg.eta)

    def client_payload(self, device, rank, start, trained, budget_bits):
        rows = self._proxy  # this round's (start_round drew it)
        with torch.no_grad():
            log_p, z = self._outputs(self.model, rows, rank)
            log_p, z = log_p.cpu(), None if z is None else z.float().cpu()
        hidden = b"" if z is None else encode_hidden(z.numpy(), self.cfg.value_bits)
        left = None if budget_bits is None else budget_bits - 8 * len(hidden) / self.cfg.eta
        k = self.k_for(left, log_p.shape[0])
        values, idx = torch.topk(log_p, k, dim=-1)
        payload = encode_topk(idx.numpy(), values.numpy(), self.vocab(), self.cfg.value_bits) + hidden
        top, block = split_payload(payload)
        got_idx, got_val, _ = decode_topk(top)
        state = {"indices": torch.from_numpy(got_idx), "values": torch.from_numpy(got_val)}
        if block:
            state["hidden"] = torch.from_numpy(decode_hidden(block))
        return payload, state, {"topk": k}

    def start_round(self, round_index: int) -> None:
        self.proxy(round_index)

    def aggregate(self, states: Sequence[State], weights: Sequence[float], round_index: int) -> None:
        if not states:
            return
        mode = self.cfg.aggregation or ("zero-pad" if self.cfg.variant == "fixed-k" else "adaptive")
        idx = [s["indices"].numpy() for s in states]
        val = [s["values"].numpy() for s in states]
        q = aggregate_topk(idx, val, weights, self.vocab(), mode=mode, confidence=self.cfg.confidence)
        # Broadcast: the global distribution's top entries, as many as the largest upload carried.
        k = max(i.shape[1] for i in idx)
        logq = np.log(np.clip(q, 1e-30, None))
        top = np.argsort(-logq, axis=1, kind="stable")[:, :k]
        self._broadcast = encode_topk(top, np.take_along_axis(logq, top, axis=1), self.vocab(), self.cfg.value_bits)
        z_global = None
        if all("hidden" in s for s in states):
            w = np.asarray(weights, dtype=float) / float(np.sum(weights))
            z_mean = sum(wk * s["hidden"].numpy().astype(float) for wk, s in zip(w, states))
            self._broadcast += encode_hidden(z_mean, self.cfg.value_bits)
        top_part, block = split_payload(self._broadcast)
        b_idx, b_val, vocab = decode_topk(top_part)
        received = aggregate_topk([b_idx], [b_val], [1.0], vocab)  # what clients read from the broadcast
        received = np.clip(received, 1e-12, None)
        received /= received.sum(axis=1, keepdims=True)
        if block:
            z_global = torch.from_numpy(decode_hidden(block)).float()
        self.teacher = (self.proxy(round_index), torch.from_numpy(received).float(), z_global)

    def downlink_payload(self) -> bytes:
        return self._broadcast

    def update_template(self, rank: int) -> State:  # pragma: no cover - sized by expected_payload_bits
        raise NotImplementedError("distillation payloads are sized by expected_payload_bits")

    def planned_rows(self) -> int:
        """Output rows a proxy batch is expected to carry: one per text for classification, each text's real
        next-token positions for an LM (the public split's mean, not the padded length)."""
        samples = min(self.cfg.proxy_samples, len(self.data.public_ids))
        if self.classify:
            return samples
        return max(1, int(round(samples * float(self.data.public_mask[:, 1:].sum(axis=1).mean()))))

    def _payload_bits(self, k: int) -> int:
        samples = min(self.cfg.proxy_samples, len(self.data.public_ids))
        rows = self.planned_rows()
        hidden = hidden_bytes(samples, min(self.ranks), self.cfg.value_bits) if self.cfg.hidden_weight > 0 else 0
        return 8 * (payload_bytes(rows, self.vocab(), k, self.cfg.value_bits) + hidden)

    def expected_payload_bits(self, rank: int) -> int:
        """Planned size of a payload of fixed size: `distill.k` entries per output row (all V for `full`)
        and the hidden projections."""
        return self._payload_bits(self.vocab() if self.cfg.variant == "full" else min(self.cfg.k, self.vocab()))

    def payload_growth(self) -> tuple[int, int, float] | None:
        """Channel-adaptive uploads fill η of their window: (bits at k = 1, bits at k = V, η); None otherwise."""
        if self.cfg.variant != "adaptive":
            return None
        return self._payload_bits(1), self._payload_bits(self.vocab()), float(self.cfg.eta)

    def evaluate(self, data, task):
        per_model, devices = [], []
        for d in range(len(data.parts)):
            bank = self.bank(d)
            bank.load_adapter(bank.r_max, self._own(d))
            metrics, _ = evaluate(bank.model, data, task, per_device=False)
            per_model.append(metrics)
            devices.append(device_metrics(bank.model, data, task, d))
        mean = {k: float(np.mean([m[k] for m in per_model])) for k in per_model[0]}
        return mean, devices

    def batching(self, num_clients: int) -> tuple[bool, str]:
        return False, "federated distillation (each client trains its own model with its own teacher term)"
