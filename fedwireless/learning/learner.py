"""The learning side of the co-simulation: real federated training with torch (+ peft for LoRA).

It knows nothing about the network. The engine asks it to train some clients at some modules (LoRA ranks, or the
one full-parameter module), gets real updates (real encoded bytes, real FLOPs), hands back the ones that arrived for
aggregation, and asks for an evaluation. What a client trains, sends and what the server aggregates and broadcasts
is the federated method's (`learning.methods`); this façade adds what every method shares: the data
(`learning.setup`), batches and seeds, the one training loop (`learning.training`), update coding, and evaluation
(`learning.evaluation`).

Clients send Δ = trained − start encoded by the scenario's codec; the server adds the decoded Δ to the start. Lossy
codecs run with client-side error feedback where the codec asks for it (`error_feedback`, default on for topk and
nncodec). With `difference_coding`, each client codes its update minus its previous decoded update (a dropped upload
is assumed recovered: the co-simulator does not model the retransmission that keeps sender and receiver references
in step)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from fedwireless.codecs import make_codec, wrapper_hints
from fedwireless.codecs.feedback import DifferenceCoder, ErrorFeedback, encode_and_reconstruct
from fedwireless.contracts import ClientUpdate, PayloadModel
from fedwireless.learning.batches import local_batches, pad_steps
from fedwireless.learning.clients import train_group, train_one
from fedwireless.learning.config import TaskConfig
from fedwireless.learning.device import autocast, resolve_device
from fedwireless.learning.evaluation import evaluate
from fedwireless.learning.federated_config import FederatedConfig
from fedwireless.learning.methods import make_method
from fedwireless.learning.models import causal_lm_loss, is_causal, matmul_params, quiet_transformers
from fedwireless.learning.setup import prepare_task
from fedwireless.learning.sizes import PlanningSizes
from fedwireless.learning.training import OptimizerSettings
from fedwireless.rng import child_seed

State = dict[str, torch.Tensor]


class Learner(PlanningSizes):
    """Federated fine-tuning of a small Llama with the scenario's method, data and codec."""

    def __init__(
        self,
        task: TaskConfig,
        federated: FederatedConfig,
        num_devices: int,
        device_groups: Sequence[str],
        seeds: np.random.SeedSequence,
        cache_dir: Path | None = None,
        status=None,
        device_models: Sequence[str | None] | None = None,
        device_preferences: Sequence[float] | None = None,
        rounds: int | None = None,
    ) -> None:
        quiet_transformers()
        t0 = time.perf_counter()
        self.task, self.fed, self.seeds = task, federated, seeds
        self.paths_run: set[str] = set()  # "batched" and/or "sequential (why)", for the summary
        self.round = 0
        self.classification = task.kind == "classification"
        self.device = resolve_device(task.device)
        self.data = prepare_task(task, num_devices, device_groups, seeds, cache_dir, status, device_models, self.device)
        models = {id(self.data.model_of(d)): self.data.model_of(d) for d in range(num_devices)}
        counted = {key: matmul_params(m) for key, m in models.items()}  # before peft wraps them
        self._base_matmul = [counted[id(self.data.model_of(d))] for d in range(num_devices)]
        self.codec = make_codec(federated.codec.name, federated.codec.params)
        # Broadcasts and planning sizes: the same codec without per-sender state (temporal context).
        self._plain_codec = self._new_codec(temporal=False) if self.codec.stateful else self.codec
        hints = wrapper_hints(federated.codec.name, federated.codec.params)
        self._error_feedback = hints["error_feedback"] and not self.codec.lossless
        self._difference_coding = hints["difference_coding"]
        self._senders: dict[int, object] = {}
        self._optimizers: dict[tuple[int, int], dict] = {}  # (device, rank) -> AdamW state (persistent)
        self.remote = None  # a `fedwireless.sim.remote.RayTrainer` trains the clients there; None: here
        mixed = None if task.precision == "fp32" else (lambda: autocast(self.device, task.precision))
        self.settings = OptimizerSettings.from_task(task, mixed)
        if task.optimizer.schedule_span == "run" and not rounds:
            raise ValueError("task.optimizer.schedule_span: run needs the run's number of rounds")
        self.rounds = rounds
        self.method = make_method(
            federated.training, self.data.model, self._plain_codec,
            task=task, federated=federated, seeds=child_seed(seeds, "method"), data=self.data,
            cache_dir=Path(task.pretrain.cache_dir).expanduser() if task.pretrain.cache_dir else cache_dir,
            preferences=device_preferences,
        )  # fmt: skip
        self.ranks = self.method.ranks
        for model in {id(m): m for m in [self.data.model, *self.data.extra_models.values()]}.values():
            model.to(self.device)  # states, aggregation and codecs stay on the CPU
        self._causal = {key: is_causal(m) for key, m in models.items()}
        self._device_metrics: list[dict] = []
        self.setup_s = time.perf_counter() - t0

    def _new_codec(self, temporal: bool = True):
        params = {**self.fed.codec.params, **({} if temporal else {"temporal_context": False})}
        return make_codec(self.fed.codec.name, params)

    def expected_payload_bits(self, rank: int) -> int:
        """Size of a zero update, coded as a first update (no temporal reference); a method that sends
        something else than parameters says its own size."""
        own = self.method.expected_payload_bits(rank)
        if own is not None:
            return int(own)
        return 8 * len(self._plain_codec.encode(self.method.update_template(rank)))

    def payload_growth(self) -> tuple[int, int, float] | None:
        """(least bits, most bits, η) of a payload that fills η of its window (adaptive top-k); None: fixed size."""
        return self.method.payload_growth()

    def payload_model(self, ranks: Sequence[int]) -> PayloadModel:
        growth = self.method.payload_growth()
        if growth is None:
            return PayloadModel(bits=tuple(self.expected_payload_bits(r) for r in ranks))
        least, most, fill = growth
        return PayloadModel(bits=(int(least),) * len(ranks), max_bits=(int(most),) * len(ranks), fill=float(fill))

    def downlink_payload(self) -> bytes:
        return self.method.downlink_payload()

    def compression_params(self) -> int:
        """Parameters an uncompressed update would carry (the denominator of the paper's ratio; 0: nothing is sent)."""
        own = self.method.payload_params()
        return int(own if own is not None else max(self.method.trainable_count(r) for r in self.ranks))

    # ------------------------------------------------------------------ training
    def client_batches(self, device: int, rank: int) -> list[tuple[torch.Tensor, ...]]:
        """A device's local-step batches of the current round at `rank` (drawn from the seed of round, device
        and rank, so planning and training see the same rows)."""
        rng = self._batch_rng(self.round, device, rank)
        return local_batches(self.data, self.data.parts[device], self.local_steps(device), self.task.batch_size,
                             rng, self.device, self.method.needs_row_index)  # fmt: skip

    def joint_batches(self, assignments: Sequence[tuple[int, int]]) -> list[list[tuple[torch.Tensor, ...]]]:
        """Each client's local-step batches, padded step by step to the longest of all clients (the batched
        path runs them as one batch)."""
        return pad_steps([self.client_batches(d, r) for d, r in assignments], self.data.pad_id)

    def client_loss(self, model, batch) -> torch.Tensor:
        """The task's mean loss of `model` on one batch (cross-entropy, or next-token loss on the train tokens)."""
        return self.loss_from_logits(model(input_ids=batch[0], attention_mask=batch[1]).logits, batch)

    def loss_from_logits(self, logits: torch.Tensor, batch) -> torch.Tensor:
        ids, mask, labels = batch[:3]
        if self.classification:
            return torch.nn.functional.cross_entropy(logits, labels)
        if len(batch) > 3 and self.task.train_tokens == "span":
            return causal_lm_loss(logits, ids, batch[3])
        return causal_lm_loss(logits, ids, mask)

    def _encode(self, device: int, delta: State) -> tuple[bytes, State]:
        """Payload of a client's update and what the server decodes from it (one sender per client)."""
        sender = self._senders.get(device)
        if sender is None:
            own = self._new_codec() if self.codec.stateful else self.codec  # stateful: one per sender
            sender = DifferenceCoder(own) if self._difference_coding else own
            if self._error_feedback:
                sender = ErrorFeedback(sender)
            self._senders[device] = sender
        if isinstance(sender, ErrorFeedback):
            return sender.encode(delta)
        return encode_and_reconstruct(sender, delta)

    def _update(
        self, device: int, rank: int, start: State, trained: State, batches, loss: float, budget_bits=None
    ) -> ClientUpdate:
        flops = float(sum(self.step_flops(rank, b[0].shape[0], int(b[1].sum(dim=1).max()), device) for b in batches))
        own = self.method.client_payload(device, rank, start, trained, budget_bits)
        if own is not None:
            return ClientUpdate(device, rank, own[1], own[0], len(self.data.parts[device]), flops, loss, own[2])
        delta = {k: trained[k].float() - start[k].float() for k in start}
        payload, decoded = self._encode(device, delta)
        state = {k: start[k] + decoded[k].to(start[k].dtype) for k in start}
        kept = start if self.fed.mode == "async" else {}  # FedBuff applies state − start
        return ClientUpdate(device, rank, state, payload, len(self.data.parts[device]), flops, loss, start=kept)

    def _batching(self, assignments: Sequence[tuple[int, int]]) -> tuple[bool, str]:
        if not self.fed.batch_clients:
            return False, "federated.batch_clients is false"
        if self.task.optimizer.persistent:
            return False, "task.optimizer.persistent (each client keeps its own AdamW state)"
        if any(len(self.data.parts[d]) == 0 for d, _ in assignments):
            return False, "a client holds no training rows"
        if len({self.local_steps(d) for d, _ in assignments}) > 1:
            return False, "clients have different local step counts (local_epochs)"
        return self.method.batching(len(assignments))

    def train_clients(
        self, assignments: Sequence[tuple[int, int]], uplink_budget_bits: dict[int, float] | None = None
    ) -> list[ClientUpdate]:
        """Train each (device, rank) from the current global model; the same bytes in any order (clients
        train in (device, rank) order and come back in the caller's).

        `uplink_budget_bits`: bits each device can send within its upload window (rate × time left), for
        methods whose payload follows the channel."""
        self.round += 1
        self.method.start_round(self.round)
        order = sorted(range(len(assignments)), key=lambda i: tuple(assignments[i]))
        done = self._train_in_order([assignments[i] for i in order], uplink_budget_bits or {})
        out = list(done)
        for j, i in enumerate(order):
            out[i] = done[j]
        return out

    def _train_in_order(self, assignments: Sequence[tuple[int, int]], budgets: dict[int, float]) -> list[ClientUpdate]:
        ok, why = self._batching(assignments)
        if ok or assignments:
            self.paths_run.add("batched" if ok else f"sequential ({why})")
        if self.remote is not None:  # the same steps on Ray actors (`fedwireless.sim.remote`)
            return self.remote.train(self, assignments, budgets, ok)
        if ok:
            out = []
            for g, group in enumerate(self.batch_groups(assignments)):
                starts = [self.method.batch_start(d, r, self.round) for d, r in group]
                batches = self.joint_batches(group)
                trained = train_group(self, starts, batches, g)
                out += [self._update(d, r, s, st, b, loss)
                        for (d, r), s, b, (st, loss) in zip(group, starts, batches, trained)]  # fmt: skip
            return out
        out = []
        for device, rank in assignments:
            batches = self.client_batches(device, rank)
            start = self.method.client_start(device, rank, self.round)
            trained, loss, kept = train_one(self, device, rank, batches, self._optimizers.get((device, rank)))
            if kept is not None:
                self._optimizers[(device, rank)] = kept
            out.append(self._update(device, rank, start, trained, batches, loss, budgets.get(device)))
        return out

    def batch_groups(self, assignments: Sequence[tuple[int, int]]) -> list[Sequence[tuple[int, int]]]:
        """The cohort (in training order) cut into batches of `federated.batch_group_size` clients."""
        size = self.fed.batch_group_size
        return [assignments[i : i + size] for i in range(0, len(assignments), size)]

    def round_settings(self, steps: int) -> OptimizerSettings:
        """The optimizer settings of this round's local training of `steps` steps (placed in the run-wide
        schedule when `task.optimizer.schedule_span` is `run`)."""
        if self.task.optimizer.schedule_span != "run":
            return self.settings
        return self.settings.within_run(self.round, self.rounds, steps)

    def gpus(self) -> list[int]:
        return [self.device.index or 0] if self.device.type == "cuda" else []

    def aggregate(self, updates: Sequence[ClientUpdate], staleness_weights: Sequence[float] | None = None) -> None:
        states, weights = [u.state for u in updates], [u.num_samples for u in updates]
        if staleness_weights is None or all(s == 1.0 for s in staleness_weights):
            return self.method.aggregate(states, weights, self.round)
        self.method.aggregate_late(states, weights, staleness_weights, self.round)

    def aggregate_buffer(self, updates: Sequence[ClientUpdate], staleness_weights: Sequence[float],
                         server_lr: float) -> None:  # fmt: skip
        self.method.aggregate_buffer(*zip(*[(u.state, u.start) for u in updates]), staleness_weights, server_lr)

    def start_from_edges(self, station_of: np.ndarray | None) -> None:
        self.method.station_of = station_of

    def aggregate_at_edges(self, updates_by_station: Mapping[int, Sequence[ClientUpdate]]) -> None:
        self.method.aggregate_at_edges({c: ([u.state for u in us], [u.num_samples for u in us])
                                        for c, us in updates_by_station.items() if us})  # fmt: skip

    def aggregate_at_cloud(self) -> None:
        self.method.aggregate_at_cloud()

    def rank_residuals(self) -> dict[int, float] | None:
        return self.method.rank_residuals()

    # ------------------------------------------------------------------ evaluation and reporting
    def evaluate(self) -> dict[str, float]:
        """Metrics of the global model on the test split; per-device ones come from `device_metrics()`."""
        own = self.method.evaluate(self.data, self.task) or evaluate(self.method.eval_model(), self.data, self.task)
        metrics, self._device_metrics = own
        return metrics

    def device_metrics(self) -> list[dict[str, float]]:
        return self._device_metrics

    def artifacts(self) -> dict[str, bytes]:
        return dict(self.data.artifacts)

    def info(self) -> dict[str, object]:
        return {
            "learning": "real",
            "training_path": ", ".join(sorted(self.paths_run)) or "none (no client trained)",
            "aggregation": self.fed.aggregation,
            "codec": self.fed.codec.name,
            "trainable_params": {str(r): int(self.method.trainable_count(r)) for r in self.ranks},
            **({"device_model": self.data.device_model} if any(self.data.device_model) else {}),
            "device": str(self.device),
            "precision": self.task.precision,
            "setup_s": round(self.setup_s, 3),
            **self.data.info,
            **self.method.info(),
        }


__all__ = ["ClientUpdate", "Learner"]
