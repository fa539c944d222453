"""The `federated:` section of a scenario. Imports no torch (the validate path uses it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from fedwireless.config_base import Section
from fedwireless.learning.registry import LORA_AGGREGATORS, METHODS


class CodecConfig(Section):
    name: str = "none"
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> CodecConfig:
        from fedwireless.codecs import validate_codec_params

        validate_codec_params(self.name, self.params)
        return self


class DistillConfig(Section):
    """Federated distillation (`federated.training: distill`; Seed 003, arXiv 2509.01750). Clients keep their
    own LoRA models and exchange top-k log-probabilities on a shared public proxy batch each round."""

    # k per client: adaptive (from its rate and upload window: the paper), fixed-k (`k`), full (every entry).
    variant: Literal["adaptive", "fixed-k", "full"] = "adaptive"
    # The merge, whatever chose k: adaptive (the paper) or zero-pad; None: zero-pad for fixed-k, else adaptive.
    aggregation: Literal["adaptive", "zero-pad"] | None = None
    k: int = Field(8, ge=1)  # fixed-k; also the size a policy plans with before the rate is known
    value_bits: Literal[32, 16, 8] = 16
    eta: float = Field(0.5, gt=0, le=1)  # share of the upload window the logits may fill (adaptive)
    alpha: float = Field(1.0, ge=0)  # weight of the distillation term; 0: local training only (the baseline)
    temperature: float = Field(2.0, gt=0)
    proxy_samples: int = Field(32, ge=1)  # public texts per round
    confidence: bool = False  # adaptive aggregation weights a client by the mass its top-k covers
    # LoRA hidden-layer projection: clients also send, per proxy text, the mean input hidden state of layer
    # `hidden_layer` projected through that layer's LoRA A (first target module, the smallest rank's rows);
    # the local loss adds hidden_weight · mean squared distance to the server's average. 0 turns it off.
    hidden_weight: float = Field(0.0, ge=0)
    hidden_layer: int = -1


class PwffConfig(Section):
    """Personalized wireless federated fine-tuning (`federated.training: pwff`; Seed 001, arXiv 2404.13238)."""

    # Which modules are global (uploaded and averaged); the rest stay on the device. [adapter]: the paper;
    # [adapter, lora]: FedAvg of everything; []: local training only.
    global_modules: list[Literal["adapter", "lora"]] = Field(default_factory=lambda: ["adapter"])
    adapter_size: int = Field(16, ge=1)  # bottleneck width
    # Adapters follow each block's attention output projection and/or its MLP output projection.
    adapter_places: list[Literal["attention", "mlp"]] = Field(
        default_factory=lambda: ["attention", "mlp"], min_length=1
    )
    mu: float = Field(0.01, ge=0)  # proximal weight μ of ‖θ_global-part − θ_global‖²
    reward_weighting: bool = True  # weigh each row's likelihood by the device's quality reward
    attention_window: int | None = Field(None, ge=1)  # sliding-window attention in local training; None: dense
    reward_steps: int = Field(300, ge=1)  # training steps of each reward model (cached)
    eval_prompts: int = Field(8, ge=1)  # held-out prompts per device answered greedily at each evaluation
    max_new_tokens: int = Field(16, ge=1)  # longest greedy answer at evaluation

    @field_validator("global_modules")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"each module at most once, got {v}")
        return v


class StalenessConfig(Section):
    """How much a late update counts when it joins an aggregation: s(τ) of FedAsync (Xie et al. 2019), τ the
    rounds between the one whose global model it trained from and the one it joins. With the defaults (b = 4,
    max_staleness 4) a hinge weighs every update that can still join in full: set b below max_staleness."""

    # polynomial: (1 + τ)^(−a); hinge: 1 up to τ = b, then 1 / (a·(τ − b) + 1); constant: 1.
    function: Literal["polynomial", "hinge", "constant"] = "polynomial"
    a: float = Field(0.5, ge=0)  # decay exponent (polynomial) or slope (hinge) of the staleness weight
    b: int = Field(4, ge=0)  # hinge: staleness still weighted in full


class BackhaulConfig(Section):
    """A base station's link to the cloud in hierarchical rounds (edge model up, global model down)."""

    capacity_mbps: float = Field(1000.0, gt=0)  # the link's rate each way, Mbit/s
    latency_ms: float = Field(5.0, ge=0)  # one-way delay, ms


class HierarchicalConfig(Section):
    """HierFAVG (Liu et al., ICC 2020): devices aggregate at their serving base station every round (κ₁ =
    task.local_steps local steps per edge aggregation), the stations at the cloud every `edge_rounds` rounds (κ₂)."""

    edge_rounds: int = Field(2, ge=1)  # κ₂: edge aggregations per cloud aggregation
    # Every station's link to the cloud, unless the station sets its own (base_stations[].backhaul).
    backhaul: BackhaulConfig = Field(default_factory=BackhaulConfig)


class AsyncConfig(Section):
    """Asynchronous federated learning (`federated.mode: async`): no rounds; each idle, available device the policy
    picks gets the current global model, trains and uploads, and the server applies updates as they arrive."""

    # fedasync: x ← (1 − α·s(τ))·x + α·s(τ)·x_k at each arrival (Xie et al. 2019); fedbuff: every `buffer_size`
    # arrivals x ← x + η·(1/K)·Σ s(τ_k)·Δ_k, Δ_k an update's change from the model it trained from (Nguyen et al. 2022).
    algorithm: Literal["fedasync", "fedbuff"] = "fedasync"
    concurrency: int = Field(8, ge=1)  # devices training or uploading at once
    alpha: float = Field(0.6, gt=0, le=1)  # fedasync: mixing weight α of a fresh update
    buffer_size: int = Field(4, ge=1)  # fedbuff: arrivals K per server update
    server_lr: float = Field(1.0, gt=0)  # fedbuff: server learning rate η
    # An update that could only be applied more than this many server updates after the one it trained from is
    # dropped (reason stale); τ counts server updates, not rounds.
    max_staleness: int = Field(32, ge=0)
    # Evaluate the global model every this many server updates (None: not by updates), and/or every `eval_every_s`
    # simulated seconds (None: not by time); always after the last step.
    eval_every: int | None = Field(1, ge=1)
    eval_every_s: float | None = Field(None, gt=0)  # simulated seconds between evaluations (None: not by time)
    # Stop once simulated time reaches this (None: after `rounds` server steps, which also caps a timed run).
    duration_s: float | None = Field(None, gt=0)


class FederatedConfig(Section):
    ranks: list[int] = Field(default_factory=lambda: [8], min_length=1)  # LoRA ranks devices can train
    # lora_alpha = alpha_per_rank · r keeps the LoRA scale alpha/r equal across ranks, so products
    # B·A of different ranks are directly comparable in aggregation.
    alpha_per_rank: float = Field(2.0, gt=0)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"], min_length=1)
    # Trained in full beside the adapters (peft modules_to_save); None: the task head (classification), else none.
    modules_to_save: list[str] | None = None
    aggregation: Literal[tuple(LORA_AGGREGATORS)] = "fedavg"
    # lora: adapters averaged by `aggregation`; full: full-parameter deltas; distill: top-k logits on a public
    # proxy batch (`distill`); pwff: personalized fine-tuning, global adapters and personal LoRA (`pwff`).
    training: Literal[tuple(METHODS)] = "lora"
    distill: DistillConfig = Field(default_factory=DistillConfig)
    pwff: PwffConfig = Field(default_factory=PwffConfig)
    clients_per_round: int | None = Field(None, ge=1)
    batch_clients: bool = True
    # Batched training cuts a round's cohort, in (device, rank) order, into groups of at most this many clients,
    # each one batch. Results depend on the groups (float rounding), never on where they train (--backend ray
    # sends whole groups to actors); smaller groups also bound the memory of large cohorts.
    batch_group_size: int = Field(64, ge=1)
    codec: CodecConfig = Field(default_factory=CodecConfig)
    # sync: a round drops the updates still on their way at its deadline; semi-sync: they keep going and join
    # the first aggregation after they arrive, weighted by their staleness (`staleness`); hierarchical: devices
    # aggregate at their base station each round, the stations at the cloud every hierarchical.edge_rounds;
    # async: no rounds, updates applied as they arrive (`asynchronous`).
    mode: Literal["sync", "semi-sync", "hierarchical", "async"] = "sync"
    # semi-sync: an update that could only join an aggregation more than this many rounds after the round it
    # trained in is dropped (reason stale).
    max_staleness: int = Field(4, ge=1)
    staleness: StalenessConfig = Field(default_factory=StalenessConfig)
    hierarchical: HierarchicalConfig = Field(default_factory=HierarchicalConfig)
    asynchronous: AsyncConfig = Field(default_factory=AsyncConfig)

    @property
    def module_ranks(self) -> tuple[int, ...]:
        """Module options a policy chooses from: the LoRA ranks, or the one full-parameter module (rank 0)."""
        return (0,) if self.training == "full" else tuple(self.ranks)

    @field_validator("ranks")
    @classmethod
    def _ranks(cls, v: list[int]) -> list[int]:
        if any(r < 1 for r in v):
            raise ValueError(f"every rank must be >= 1, got {v}")
        if sorted(set(v)) != v:
            raise ValueError(f"must be strictly increasing without repeats, got {v}")
        return v

    @field_validator("target_modules", "modules_to_save")
    @classmethod
    def _modules(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        bad = [m for m in v if not m or not m.replace("_", "").replace(".", "").isalnum()]
        if bad:
            raise ValueError(f"module names must be plain identifiers, got {bad}")
        return v
