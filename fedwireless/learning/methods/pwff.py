"""Personalized wireless federated fine-tuning (PWFF; Jiang et al., arXiv 2404.13238).

Every client's model carries bottleneck adapters (`learning.adapters`) and a peft LoRA. `pwff.global_modules`
says which of the two are global — uploaded as Δ and averaged by the server (FedAvg over arrived clients,
weights by samples) — and which stay personal, never leaving the device: the paper's default is adapters
global, LoRA personal; `[adapter, lora]` is plain FedAvg of both, `[]` local training only.

Local loss: reward-weighted likelihood of the client's own responses plus a proximal term,

    L = mean_i w_i · NLL_i(response)  +  μ · ‖θ_global-part − θ_global‖²,
    w_i = a_n · R_help(i) + (1 − a_n) · R_safe(i),

with R the two reward models' probabilities for row i (`learning.rewards`, scored once) and a_n the
device's preference (`devices[].preference`). This is the reward-weighted regression form of the paper's
quality reward (no sampling); `reward_weighting: false` sets every w_i = 1. Local training may use
sliding-window attention (`attention_window`); FLOPs count its pattern. Evaluation: each device's own model
(global part + its personal part) greedily answers its held-out prompts; the reward of those answers at its
preference is `eval_reward`, the global model's (a fresh personal part) `eval_reward_global`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fedwireless.learning import adapters as ad
from fedwireless.learning.attention import window_mask
from fedwireless.learning.evaluation import device_metrics, evaluate
from fedwireless.learning.methods.base import FederatedMethod, State
from fedwireless.learning.rewards import KINDS, classifier_inputs, score, train_reward_model
from fedwireless.rng import child_seed


class PwffMethod(FederatedMethod):
    name = "pwff"
    needs_row_index = True  # the learner appends each batch's row indices (reward weights are per row)

    def __init__(self, model, codec, *, task, federated, seeds, data, cache_dir=None, preferences=None, **_):
        from peft import LoraConfig, get_peft_model

        if data.train_span is None or data.public_rows is None:
            raise ValueError("federated.training: pwff needs the instruction data (task.dataset.name: instructions)")
        self.cfg, self.task, self.data, self.codec, self.seeds = federated.pwff, task, data, codec, seeds
        self.ranks = tuple(federated.ranks)
        self.attention_window = self.cfg.attention_window
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(child_seed(seeds, "modules", as_int=True))
            r = self.ranks[0]
            lora = LoraConfig(r=r, lora_alpha=federated.alpha_per_rank * r, lora_dropout=federated.lora_dropout,
                              target_modules=list(federated.target_modules))  # fmt: skip
            self.model = get_peft_model(model, lora)
            ad.add_adapters(self.model, list(self.cfg.adapter_places), self.cfg.adapter_size)
        self.params = {n: p for n, p in self.model.named_parameters() if p.requires_grad}
        self.global_keys = sorted(n for n in self.params if self._kind(n) in self.cfg.global_modules)
        self.init = {n: p.detach().cpu().clone() for n, p in self.params.items()}
        self.global_state: State = {k: self.init[k].clone() for k in self.global_keys}
        self.personal: dict[int, State] = {}
        self._current: int | None = None
        n = len(data.parts)
        self.preference = np.asarray(preferences if preferences is not None else [0.5] * n, dtype=float)
        self.rewards = self._reward_models(cache_dir)
        self.row_weight = self._row_weights()

    @staticmethod
    def _kind(name: str) -> str:
        return "adapter" if ad.MARK in name else "lora"

    # ------------------------------------------------------------------ reward models and weights
    def _reward_models(self, cache_dir):
        d, tok = self.data, self.data.tokenizer
        rows = d.public_rows
        ids, mask, _ = tok.encode(rows.texts, self.task.model.max_seq_len, True)
        out = {}
        for kind in KINDS:
            out[kind], _ = train_reward_model(
                kind, list(tok.vocab), ids, mask, getattr(rows, kind), steps=self.cfg.reward_steps,
                seed=child_seed(self.seeds, "reward", kind, as_int=True), cache_dir=cache_dir,
                max_seq_len=self.task.model.max_seq_len, pad_id=tok.pad_id,
            )  # fmt: skip
        return out

    def reward(self, ids: np.ndarray, mask: np.ndarray, preference: float | np.ndarray) -> np.ndarray:
        """[n] a·R_help + (1 − a)·R_safe of language-model rows (prompt [SEP] response)."""
        tok = self.data.tokenizer
        cids, cmask = classifier_inputs(ids, mask, tok.eos_id, tok.cls_id, ids.shape[1] + 1, tok.pad_id)
        help_, safe = (score(self.rewards[k], cids, cmask) for k in KINDS)
        return preference * help_ + (1.0 - preference) * safe

    def _row_weights(self) -> np.ndarray:
        """[N] each training row's weight at its owner's preference (1 without reward weighting)."""
        d = self.data
        w = np.ones(len(d.train_ids))
        if not self.cfg.reward_weighting:
            return w
        for dev, rows in enumerate(d.parts):
            if len(rows):
                w[rows] = self.reward(d.train_ids[rows], d.train_mask[rows], self.preference[dev])
        return w

    # ------------------------------------------------------------------ the seam
    def trainable_count(self, rank: int, device: int | None = None) -> int:
        return sum(v.numel() for v in self.init.values())

    def adapter_matmul(self, rank: int, device: int | None = None) -> int:
        return sum(v.numel() for k, v in self.init.items() if k.endswith("weight"))

    def payload_params(self) -> int:
        """Parameters an upload carries: the global part only."""
        return int(sum(self.init[k].numel() for k in self.global_keys))

    def update_template(self, rank: int) -> State:
        return {k: torch.zeros_like(self.init[k]) for k in self.global_keys}

    def expected_payload_bits(self, rank: int) -> int:
        return 8 * len(self.codec.encode(self.update_template(self.ranks[0]))) if self.global_keys else 0

    def _load(self, state: State) -> None:
        with torch.no_grad():
            for k, v in state.items():
                self.params[k].copy_(v.to(self.params[k].device))

    def _use(self, device: int | None) -> None:
        """The model of `device` (None: a new device's): its personal part, then the global part."""
        self._load(self.init if device is None else self.personal.get(device, self.init))
        self._load(self.global_state)

    def client_start(self, device: int, rank: int, round_index: int) -> State:
        self._current = device
        self._use(device)
        return {k: v.clone() for k, v in self.global_state.items()}

    def trainable_params(self, rank: int) -> list[torch.nn.Parameter]:
        return list(self.params.values())

    def client_state(self, rank: int) -> State:
        """The trained global part; the personal part stays with the device (`personal`)."""
        now = {k: p.detach().cpu().clone() for k, p in self.params.items()}
        if self._current is not None:
            self.personal[self._current] = {k: v for k, v in now.items() if k not in self.global_state}
        return {k: now[k] for k in self.global_keys}

    def client_payload(self, device, rank, start, trained, budget_bits):
        if self.global_keys:
            return None  # the learner codes Δ of the global part
        return b"", {}, {}  # local-only: nothing leaves the device

    def aggregate(self, states: Sequence[State], weights: Sequence[float], round_index: int) -> None:
        if not states or not self.global_keys:
            return
        w = np.asarray(weights, dtype=float) / float(np.sum(weights))
        self.global_state = {k: sum(float(wi) * s[k].float() for wi, s in zip(w, states)) for k in self.global_keys}

    def downlink_payload(self) -> bytes:
        return self.codec.encode(self.global_state) if self.global_keys else b""

    def eval_model(self) -> torch.nn.Module:
        self._use(None)
        return self.model

    def proximal(self) -> torch.Tensor:
        """μ·‖θ − θ_global‖² over the global part (zero without one)."""
        terms = [
            ((self.params[k] - self.global_state[k].to(self.params[k].device)) ** 2).sum() for k in self.global_keys
        ]
        return self.cfg.mu * torch.stack(terms).sum() if terms else torch.zeros(())

    def local_loss(self, loss_fn, device: int):
        weights = torch.from_numpy(self.row_weight).float()

        def loss(model, batch):
            ids, mask, span, rows = batch[0], batch[1], batch[3], batch[-1]
            logits = model(input_ids=ids, attention_mask=window_mask(mask, self.attention_window)).logits
            nll = torch.nn.functional.cross_entropy(
                logits[:, :-1].transpose(1, 2).float(), ids[:, 1:], reduction="none"
            )  # [B, L-1]
            keep = span[:, 1:].float()
            has = keep.sum(1) > 0  # rows cut before their response teach nothing
            per_row = (nll * keep).sum(1) / keep.sum(1).clamp(min=1.0)
            w = weights[rows.cpu()].to(per_row.device)
            likelihood = (w * per_row)[has].mean() if bool(has.any()) else per_row.sum() * 0.0
            return likelihood + self.proximal().to(per_row.device)

        return loss

    def batching(self, num_clients: int) -> tuple[bool, str]:
        return False, "pwff (each client trains its own personal modules with its own reward weights)"

    # ------------------------------------------------------------------ evaluation
    def _greedy(self, prompts: np.ndarray, prompt_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Greedy answers: rows `prompt [SEP]` continued up to EOS or the sequence length (no KV cache: short)."""
        tok, L = self.data.tokenizer, self.data.train_ids.shape[1]
        ids, mask = prompts.copy(), prompt_mask.copy()
        lengths = mask.sum(1)
        dev = next(self.model.parameters()).device
        done = np.zeros(len(ids), dtype=bool)
        with torch.no_grad():
            for _ in range(min(self.cfg.max_new_tokens, L - int(lengths.min()))):
                logits = self.model(
                    input_ids=torch.from_numpy(ids).to(dev), attention_mask=torch.from_numpy(mask).to(dev)
                ).logits
                nxt = logits[torch.arange(len(ids)), torch.from_numpy(lengths - 1).to(dev)].argmax(-1).cpu().numpy()
                room = (~done) & (lengths < L)
                ids[room, lengths[room]] = nxt[room]
                mask[room, lengths[room]] = 1
                done |= room & (nxt == tok.eos_id)
                lengths = np.where(room, lengths + 1, lengths)
                if (done | (lengths >= L)).all():
                    break
        return ids, mask

    def _device_reward(self, device: int) -> float:
        d = self.data
        rows = d.device_eval[device][: self.cfg.eval_prompts]
        if len(rows) == 0:
            return float("nan")
        src = "test" if d.device_eval_split == "test" else "train"
        rows = rows[getattr(d, f"{src}_span")[rows].sum(1) > 0]  # a prompt cut before [SEP] has nothing to answer
        if len(rows) == 0:
            return float("nan")
        ids, mask, span = (getattr(d, f"{src}_{x}")[rows] for x in ("ids", "mask", "span"))
        prompt_mask = mask * (1 - span)  # the prompt and [SEP], without the reference answer
        prompts = ids * prompt_mask
        out_ids, out_mask = self._greedy(prompts, prompt_mask)
        return float(self.reward(out_ids, out_mask, self.preference[device]).mean())

    def evaluate(self, data, task):
        self.model.eval()
        metrics, _ = evaluate(self.eval_model(), data, task, per_device=False)
        global_reward = [self._device_reward(dev) for dev in range(len(data.parts))]
        devices = []
        for dev in range(len(data.parts)):
            self._use(dev)
            m = device_metrics(self.model, data, task, dev)
            devices.append({**m, "reward": self._device_reward(dev), "reward_global": global_reward[dev]})
        metrics["reward"] = _mean([x["reward"] for x in devices])
        metrics["reward_global"] = _mean(global_reward)
        return metrics, devices

    def info(self) -> dict[str, object]:
        return {
            "pwff_global_modules": list(self.cfg.global_modules),
            "pwff_global_params": int(sum(self.init[k].numel() for k in self.global_keys)),
            "pwff_personal_params": int(sum(v.numel() for k, v in self.init.items() if k not in self.global_state)),
            "pwff_mean_row_weight": round(float(self.row_weight.mean()), 4),
        }


def _mean(values: list[float]) -> float:
    """Mean of the finite values (NaN where no device had held-out prompts)."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")
