"""The learning side of the co-simulation: real federated fine-tuning with torch + peft.

It knows nothing about the network. The engine asks it to train some clients at some LoRA ranks,
gets real updates (real encoded bytes, real FLOPs), hands back the ones that arrived for
aggregation, and asks for an evaluation.

Clients send differential updates (Δ = trained − received) encoded by the scenario's codec; the
server adds the decoded Δ to what it sent. Lossy codecs run with client-side error feedback where
the codec asks for it (`error_feedback`, default on for topk and nncodec).
LoRA: the downlink payload is the encoded global adapter; its size is real, and clients start from the
exact global (downlink quantization error is not modelled there). Full-parameter training codes the
downlink closed-loop: the server sends encode(global − clients' copy) and every client adds the decoded
difference to its copy, so a lossy downlink changes what clients train from, and its error is carried
into the next round's difference instead of accumulating. The first round's model comes from the
shared seed (its download is not billed).
With `difference_coding`, each client codes its update minus its previous decoded update (a dropped
upload is assumed recovered: the co-simulator does not model the retransmission that keeps sender and
receiver references in step).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fedwireless.codecs import make_codec, wrapper_hints
from fedwireless.codecs.feedback import DifferenceCoder, ErrorFeedback, encode_and_reconstruct
from fedwireless.learning import aggregate as agg
from fedwireless.learning.batched import batching_applies
from fedwireless.learning.config import CELLULAR_DATASETS, FederatedConfig, TaskConfig
from fedwireless.learning.data import WordTokenizer, load_splits, partition
from fedwireless.learning.flops import ParamCounts, training_step_flops
from fedwireless.learning.models import (
    causal_lm_loss,
    load_local,
    matmul_params,
    pretrained_base,
    seeded,
)

State = dict[str, torch.Tensor]


def _quiet_transformers() -> None:
    """Load reports, shard progress bars and deprecation chatter would bury the run's own progress."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")


@dataclass
class ClientUpdate:
    device: int
    rank: int  # 0 for full-parameter training
    state: State  # what the server reconstructs from the payload (start + decoded Δ)
    payload: bytes  # the real encoded bytes that cross the uplink
    num_samples: int
    flops: float
    train_loss: float


def local_train(
    model: torch.nn.Module,
    params: list[torch.nn.Parameter],
    batches: Sequence[tuple[torch.Tensor, ...]],
    loss_fn,
    lr: float,
    max_grad_norm: float | None,
) -> float:
    """The one local-training loop of every method: AdamW (fresh each round), per-client clipping.

    Returns the mean training loss over the steps.
    """
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    model.train()
    total = 0.0
    for batch in batches:
        loss = loss_fn(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        opt.step()
        total += float(loss.detach())
    model.eval()
    return total / max(len(batches), 1)


class Learner:
    """Federated LoRA (or full-parameter) fine-tuning of a small Llama."""

    def __init__(
        self,
        task: TaskConfig,
        federated: FederatedConfig,
        num_devices: int,
        device_groups: Sequence[str],
        partition_rng: np.random.Generator,
        torch_seed: int,
        cache_dir: Path | None = None,
    ) -> None:
        _quiet_transformers()
        t0 = time.perf_counter()
        self._cache_dir = cache_dir
        self.paths_run: set[str] = set()  # "batched" and/or "sequential (why)", for the summary
        self.task, self.fed = task, federated
        self.torch_seed = int(torch_seed)
        self.round = 0
        self.full = federated.training == "full"
        self.ranks = (0,) if self.full else tuple(federated.ranks)
        self.classification = task.kind == "classification"
        self.cellular = task.dataset.name in CELLULAR_DATASETS
        self.train_span: np.ndarray | None = None  # cellular rows: 1 on the predicted span
        self.test_span: np.ndarray | None = None
        self.device_area: list[str] | None = None
        self.artifacts: dict[str, bytes] = {}  # files saved with the run (e.g. the tokenizer)
        self._rank_residual: dict[int, float] | None = None  # spectrum of the last LoRA aggregate
        self._residual_inputs: tuple[list, list] | None = None  # (states, weights), measured only when asked

        data_rng = np.random.default_rng(partition_rng.integers(0, 2**63))
        if self.cellular:
            model = self._prepare_cellular(data_rng, device_groups, num_devices)
        else:
            model = self._prepare_text(data_rng, device_groups, num_devices)
        model.eval()
        self._base_matmul = matmul_params(model)

        self.codec = make_codec(federated.codec.name, federated.codec.params)
        hints = wrapper_hints(federated.codec.name, federated.codec.params)
        self._error_feedback = hints["error_feedback"] and not self.codec.lossless
        self._difference_coding = hints["difference_coding"]
        self._senders: dict[int, object] = {}

        if self.full:
            self.model = model
            self.global_full = self._full_state()
            self.client_view = {k: v.clone() for k, v in self.global_full.items()}
            self._downlink = self._broadcast_full()
            self._trainable_count = {0: sum(p.numel() for p in model.parameters())}
            self._adapter_matmul = {0: 0}
        else:
            self._build_lora(model)
        self.setup_s = time.perf_counter() - t0

    # ------------------------------------------------------------------ full-parameter state
    def _full_state(self) -> State:
        """Every parameter once: tied weights (the TLM's embedding and output layer) are sent once."""
        return {k: p.detach().clone() for k, p in self.model.named_parameters()}

    def _load_full(self, state: State) -> None:
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        tied = {k for k in missing if k not in state and "lm_head" in k}
        if unexpected or set(missing) - tied:
            raise RuntimeError(f"full-parameter state does not fit the model: missing {missing}, extra {unexpected}")

    # ------------------------------------------------------------------ data and base model
    def _prepare_cellular(self, data_rng: np.random.Generator, device_groups: Sequence[str], num_devices: int):
        from fedwireless.cellular.source import area_partition, load_cellular
        from fedwireless.cellular.tlm import build_tlm

        task, m = self.task, self.task.model
        data = load_cellular(task.dataset, data_rng)
        self.label_names: tuple[str, ...] = ()
        self.num_labels = 0
        self.areas = data.areas
        self.pad_id = data.pad_id
        self.train_ids, self.train_mask, self.train_span = data.train_ids, data.train_mask, data.train_span
        self.train_labels = data.train_area
        n_test = min(len(data.test_ids), task.eval.max_samples or len(data.test_ids))
        self.test_ids, self.test_mask = data.test_ids[:n_test], data.test_mask[:n_test]
        self.test_span = data.test_span[:n_test]
        self.test_labels = data.test_area[:n_test]
        self.artifacts["tokenizer.model"] = data.tokenizer_bytes
        self.tokenizer_pieces = data.tokenizer_pieces
        if task.partition.kind == "by-area":
            self.parts, self.device_area = area_partition(data.train_area, data.areas, list(device_groups), data_rng)
        else:  # iid / dirichlet over areas / by-group over areas
            self.parts = partition(data.train_area, num_devices, task.partition, data_rng, device_groups)
        self.base_cache = "none (trained from scratch)"
        self.vocab_size = max(data.tokenizer_pieces, m.min_vocab_size)
        return build_tlm(m.size, self.vocab_size, data.max_seq_len, torch_seed=self.torch_seed + 1)

    def _prepare_text(self, data_rng: np.random.Generator, device_groups: Sequence[str], num_devices: int):
        task = self.task
        splits = load_splits(task.dataset, data_rng)
        self.label_names = splits.train.label_names
        self.num_labels = len(self.label_names)
        m = task.model
        if m.source == "local":
            vocab_file = Path(m.path).expanduser() / "vocab.txt"
            if not vocab_file.is_file():
                raise FileNotFoundError(
                    f"task.model.path: {vocab_file} not found; a local model needs the word vocabulary it was "
                    "trained with (one token per line), as fedwireless saves next to its base models"
                )
            self.tokenizer = WordTokenizer(vocab_file.read_text(encoding="utf-8").splitlines())
        else:
            self.tokenizer = WordTokenizer.build(list(splits.train.texts) + list(splits.public))
        L = m.max_seq_len
        classify = self.classification
        self.train_ids, self.train_mask = self.tokenizer.encode(splits.train.texts, L, classify)
        self.train_labels = splits.train.labels
        test = splits.test
        n_test = min(len(test.texts), task.eval.max_samples or len(test.texts))
        self.test_ids, self.test_mask = self.tokenizer.encode(test.texts[:n_test], L, classify)
        self.test_labels = test.labels[:n_test]

        # Base model: pre-trained once on the public split and cached, or read from a local directory.
        self.base_cache = "local"
        self.pad_id = self.tokenizer.pad_id
        if m.source == "local":
            with seeded(self.torch_seed + 1):
                model = load_local(m.path, task.kind, self.num_labels, self.tokenizer.pad_id)
        else:
            pub_ids, pub_mask = self.tokenizer.encode(splits.public, L)
            base_dir, hit = pretrained_base(
                m, task.pretrain, self.tokenizer.vocab, pub_ids, pub_mask, self.torch_seed, self._cache_dir
            )
            self.base_cache = "hit" if hit else "miss"
            self.base_dir = base_dir
            with seeded(self.torch_seed + 1):  # the fresh classification head
                model = load_local(base_dir, task.kind, self.num_labels, self.tokenizer.pad_id)
        self.parts = partition(self.train_labels, num_devices, task.partition, data_rng, device_groups)
        return model

    # ------------------------------------------------------------------ LoRA set-up
    def _build_lora(self, model: torch.nn.Module) -> None:
        from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

        self._get_state = get_peft_model_state_dict
        extra = {"modules_to_save": ["score"]} if self.classification else {}

        def config(r: int):
            return LoraConfig(
                r=r,
                lora_alpha=self.fed.alpha_per_rank * r,
                lora_dropout=self.fed.lora_dropout,
                target_modules=list(self.fed.target_modules),
                **extra,
            )

        with seeded(self.torch_seed + 2):
            pm = get_peft_model(model, config(self.ranks[0]), adapter_name=f"r{self.ranks[0]}")
            for r in self.ranks[1:]:
                pm.add_adapter(f"r{r}", config(r))
        self.model = pm
        self._init_state: dict[int, State] = {}
        self._trainable_count: dict[int, int] = {}
        self._adapter_matmul: dict[int, int] = {}
        for r in self.ranks:
            pm.set_adapter(f"r{r}")
            st = self._adapter_state(r)
            self._init_state[r] = st
            self._trainable_count[r] = sum(v.numel() for v in st.values())
            self._adapter_matmul[r] = sum(v.numel() for k, v in st.items() if ".lora_" in k)
        self.r_max = max(self.ranks)
        self.scale = self.fed.alpha_per_rank  # alpha / r, the same for every rank
        self.global_state: State = {k: v.clone() for k, v in self._init_state[self.r_max].items()}
        self._deltas: dict[str, torch.Tensor] | None = None  # FlexLoRA: ΔW per module
        self._last_broadcast: State = self.global_state

    def _adapter_state(self, r: int) -> State:
        return {k: v.detach().clone() for k, v in self._get_state(self.model, adapter_name=f"r{r}").items()}

    def _load_adapter(self, r: int, state: State) -> None:
        from peft import set_peft_model_state_dict

        self.model.set_adapter(f"r{r}")
        set_peft_model_state_dict(self.model, state, adapter_name=f"r{r}")

    def _fresh_adapter(self, r: int, seed: int) -> State:
        """A standard LoRA init (A random, B zero) for FLoRA's per-round restart, with this round's head."""
        st = {k: v.clone() for k, v in self._init_state[r].items()}
        g = torch.Generator().manual_seed(seed)
        for k, v in st.items():
            if k.endswith(agg.A_SUFFIX):
                bound = 1.0 / np.sqrt(v.shape[1])
                st[k] = (torch.rand(v.shape, generator=g) * 2 - 1) * bound
        for k in agg.other_keys(st):
            st[k] = self.global_state[k].clone()
        return st

    def _start_state(self, r: int) -> State:
        method = self.fed.aggregation
        if method in ("fedavg", "hetlora"):
            return agg.truncate_rank(self.global_state, r)
        if method == "flexlora":
            if self._deltas is None:
                return {k: v.clone() for k, v in self._init_state[r].items()}
            return agg.flexlora_client_state(self._deltas, agg._mean_others([self.global_state], [1.0]), r)
        return self._fresh_adapter(r, self.torch_seed + 7919 * self.round + r)

    def _merge_into_base(self, deltas: dict[str, torch.Tensor]) -> None:
        """W ← W + scale·ΔW for each LoRA target (FLoRA's merge of the stacked adapters)."""
        with torch.no_grad():
            for name, d in deltas.items():
                module_name = name.removeprefix("base_model.model.")
                layer = self.model.base_model.model.get_submodule(module_name)
                layer.base_layer.weight += (self.scale * d).to(layer.base_layer.weight.dtype)

    # ------------------------------------------------------------------ what the engine calls
    def num_samples(self) -> np.ndarray:
        return np.array([len(p) for p in self.parts], dtype=np.int64)

    def _step_flops(self, rank: int, tokens: int) -> float:
        """FLOPs of one training step (`fedwireless.learning.flops`, shared with the surrogate)."""
        counts = ParamCounts(
            self._base_matmul,
            self._adapter_matmul[rank],
            self._trainable_count[rank] if not self.full else self._base_matmul,
        )
        return training_step_flops(counts, tokens)

    def expected_flops(self, rank: int) -> float:
        return self.task.local_steps * self._step_flops(rank, self.task.batch_size * self.task.model.max_seq_len)

    def expected_payload_bits(self, rank: int) -> int:
        zero = self.global_full if self.full else self._init_state[rank]
        return 8 * len(self.codec.encode({k: torch.zeros_like(v) for k, v in zero.items()}))

    def downlink_payload(self) -> bytes:
        if self.full:
            return self._downlink
        return self.codec.encode(self._last_broadcast)

    def _broadcast_full(self) -> bytes:
        """Closed-loop downlink: code global − clients' copy, and move the copy by what clients decode."""
        diff = {k: self.global_full[k].float() - self.client_view[k].float() for k in self.global_full}
        payload, decoded = encode_and_reconstruct(self.codec, diff)
        self.client_view = {k: self.client_view[k] + decoded[k].to(self.client_view[k].dtype) for k in diff}
        return payload

    def _batches(self, device: int, rank: int) -> tuple[list[tuple[torch.Tensor, ...]], int]:
        rng = np.random.default_rng([self.torch_seed, self.round, device, rank])
        idx = self.parts[device]
        bs = min(self.task.batch_size, len(idx))
        batches, tokens = [], 0
        order = rng.permutation(idx)
        pos = 0
        for _ in range(self.task.local_steps):
            if pos + bs > len(order):
                order, pos = rng.permutation(idx), 0
            take = order[pos : pos + bs]
            pos += bs
            ids = torch.from_numpy(self.train_ids[take])
            batch = (ids, torch.from_numpy(self.train_mask[take]), torch.from_numpy(self.train_labels[take]))
            if self.train_span is not None:
                batch += (torch.from_numpy(self.train_span[take]),)
            batches.append(batch)
            tokens += ids.numel()
        return batches, tokens

    def _loss(self, model, batch) -> torch.Tensor:
        return self._loss_logits(model(input_ids=batch[0], attention_mask=batch[1]).logits, batch)

    def _loss_logits(self, logits: torch.Tensor, batch) -> torch.Tensor:
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
            sender = DifferenceCoder(self.codec) if self._difference_coding else self.codec
            if self._error_feedback:
                sender = ErrorFeedback(sender)
            self._senders[device] = sender
        if isinstance(sender, ErrorFeedback):
            return sender.encode(delta)
        return encode_and_reconstruct(sender, delta)

    def train_clients(self, assignments: Sequence[tuple[int, int]]) -> list[ClientUpdate]:
        """Train each (device, rank) from the current global model; same results in any order."""
        self.round += 1
        ok, why = batching_applies(full=self.full, lora_dropout=self.fed.lora_dropout, num_clients=len(assignments))
        if not self.fed.batch_clients:
            ok, why = False, "federated.batch_clients is false"
        if ok:
            self.paths_run.add("batched")
            return self._train_batched(assignments)
        if assignments:
            self.paths_run.add(f"sequential ({why})")
        out = []
        for device, rank in assignments:
            batches, tokens = self._batches(device, rank)
            if self.full:
                self._load_full(self.client_view)
                params = list(self.model.parameters())
                loss = local_train(self.model, params, batches, self._loss, self.task.lr, self.task.max_grad_norm)
                start = self.client_view
                trained = self._full_state()
            else:
                start = self._start_state(rank)
                self._load_adapter(rank, start)
                params = [p for p in self.model.parameters() if p.requires_grad]
                loss = local_train(self.model, params, batches, self._loss, self.task.lr, self.task.max_grad_norm)
                trained = self._adapter_state(rank)
            delta = {k: trained[k].float() - start[k].float() for k in start}
            payload, decoded = self._encode(device, delta)
            state = {k: start[k] + decoded[k].to(start[k].dtype) for k in start}
            out.append(
                ClientUpdate(
                    device,
                    rank,
                    state,
                    payload,
                    len(self.parts[device]),
                    float(sum(self._step_flops(rank, b[0].numel()) for b in batches)),
                    loss,
                )
            )
        return out

    def _train_batched(self, assignments: Sequence[tuple[int, int]]) -> list[ClientUpdate]:
        from fedwireless.learning.batched import train_lora_batched

        starts = [self._start_state(rank) for _, rank in assignments]
        batches = [self._batches(device, rank)[0] for device, rank in assignments]
        trained = train_lora_batched(
            self.model, starts, batches, self._loss_logits, self.task.lr, self.task.max_grad_norm, self.scale
        )
        out = []
        for (device, rank), start, steps, (state, loss) in zip(assignments, starts, batches, trained):
            delta = {k: state[k].float() - start[k].float() for k in start}
            payload, decoded = self._encode(device, delta)
            out.append(
                ClientUpdate(
                    device,
                    rank,
                    {k: start[k] + decoded[k].to(start[k].dtype) for k in start},
                    payload,
                    len(self.parts[device]),
                    float(sum(self._step_flops(rank, b[0].numel()) for b in steps)),
                    loss,
                )
            )
        return out

    def aggregate(self, updates: Sequence[ClientUpdate]) -> None:
        if self.full:
            if updates:  # clients' Δ are relative to their copy of the global
                deltas = [{k: u.state[k] - self.client_view[k] for k in u.state} for u in updates]
                mean = agg.fedavg_deltas(deltas, [u.num_samples for u in updates])
                self.global_full = {k: self.global_full[k] + mean[k] for k in self.global_full}
            self._downlink = self._broadcast_full()
            return
        if not updates:
            return
        w = [u.num_samples for u in updates]
        states = [u.state for u in updates]
        method = self.fed.aggregation
        self._rank_residual, self._residual_inputs = None, (states, w)
        if method == "fedavg":
            self.global_state = agg.fedavg(states, w, self.r_max)
            self._last_broadcast = self.global_state
        elif method == "hetlora":
            self.global_state = agg.hetlora(states, w, self.r_max)
            self._last_broadcast = self.global_state
        elif method == "flexlora":
            deltas, others = agg.flexlora(states, w)
            self._deltas = deltas
            self.global_state = agg.flexlora_client_state(deltas, others, self.r_max)
            self._last_broadcast = self.global_state
        else:  # flora: stack, merge into the base, restart adapters next round
            stacked = agg.flora(states, w)
            prods = {
                m: stacked[m + agg.B_SUFFIX].double() @ stacked[m + agg.A_SUFFIX].double()
                for m in agg.lora_modules(stacked)
            }
            self._merge_into_base(prods)
            head = {k: stacked[k] for k in agg.other_keys(stacked)}
            self.global_state = {
                **{
                    k: torch.zeros_like(v) if k.endswith(agg.B_SUFFIX) else v
                    for k, v in self._init_state[self.r_max].items()
                },
                **head,
            }
            self._last_broadcast = stacked

    def rank_residuals(self) -> dict[int, float] | None:
        """ε(r) of the last aggregation: the share of the aggregated adapter product's energy beyond rank r.

        Computed on first request (SVDs of every adapted weight): only policies that use it pay for it.
        """
        if self._rank_residual is None and self._residual_inputs is not None:
            states, w = self._residual_inputs
            self._rank_residual = agg.rank_residuals(agg.lora_product_sum(states, w), self.ranks)
            self._residual_inputs = None
        return self._rank_residual

    def _eval_model(self) -> torch.nn.Module:
        if not self.full:
            self._load_adapter(self.r_max, self.global_state)
        else:
            self._load_full(self.global_full)
        return self.model

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        model = self._eval_model()
        model.eval()
        bs = self.task.eval.batch_size
        # Counted tokens: "all" (every real next token) and, on cellular rows, "span" (the predicted value).
        sums = {"all": [0.0, 0.0, 0]} if not self.classification else {"label": [0.0, 0.0, 0]}
        if self.test_span is not None:
            sums["span"] = [0.0, 0.0, 0]
        for i in range(0, len(self.test_ids), bs):
            ids = torch.from_numpy(self.test_ids[i : i + bs])
            mask = torch.from_numpy(self.test_mask[i : i + bs])
            logits = model(input_ids=ids, attention_mask=mask).logits
            if self.classification:
                labels = torch.from_numpy(self.test_labels[i : i + bs])
                s = sums["label"]
                s[0] += float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum"))
                s[1] += float((logits.argmax(-1) == labels).sum())
                s[2] += len(labels)
                continue
            targets = ids[:, 1:]
            lp = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none"
            ).reshape(targets.shape)
            hit = logits[:, :-1].argmax(-1) == targets
            valid = {"all": mask[:, 1:] == 1}
            if self.test_span is not None:
                valid["span"] = valid["all"] & (torch.from_numpy(self.test_span[i : i + bs, 1:]) == 1)
            for key, v in valid.items():
                s = sums[key]
                s[0] += float(lp[v].sum())
                s[1] += float(hit[v].sum())
                s[2] += int(v.sum())
        out: dict[str, float] = {}
        for key, (nll, hits, count) in sums.items():
            out[key] = {"accuracy": hits / max(count, 1), "loss": nll / max(count, 1)}
        if self.classification:
            return out["label"]
        if self.test_span is None:
            return {**out["all"], "perplexity": float(np.exp(out["all"]["loss"]))}
        primary = out[self.task.eval.tokens]
        result = {**primary, "perplexity": float(np.exp(primary["loss"]))}
        for key, name in (("span", "span"), ("all", "all_tokens")):
            result[f"{name}_accuracy"] = out[key]["accuracy"]
            result[f"{name}_perplexity"] = float(np.exp(out[key]["loss"]))
        return result

    def info(self) -> dict[str, object]:
        out: dict[str, object] = {
            "learning": "real",
            "training_path": ", ".join(sorted(self.paths_run)) or "none (no client trained)",
            "base_cache": self.base_cache,
            "aggregation": self.fed.aggregation,
            "codec": self.fed.codec.name,
            "trainable_params": {str(r): int(n) for r, n in self._trainable_count.items()},
            "setup_s": round(self.setup_s, 3),
        }
        if self.cellular:
            out["metric_tokens"] = (
                "span: the predicted target value and </s>"
                if self.task.eval.tokens == "span"
                else "all: every real next token (the paper's unmasked variant)"
            )
            out["tokenizer_pieces"] = self.tokenizer_pieces
            out["model_vocab"] = self.vocab_size
            out["model_params"] = int(sum(p.numel() for p in self.model.parameters()))
            if self.device_area is not None:
                out["device_area"] = list(self.device_area)
        return out

    def compression_params(self) -> int:
        """Parameters an uncompressed update would carry (the denominator of the paper's ratio)."""
        return int(self._trainable_count[max(self._trainable_count)])


__all__ = ["ClientUpdate", "Learner", "local_train"]
