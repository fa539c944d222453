"""The `task:` and `federated:` sections of a scenario. Imports no torch (the validate path uses it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from fedwireless.config_base import Section

DATASETS = ("sentiment", "glue-sst2", "glue-qnli", "csv", "jsonl")


class DatasetConfig(Section):
    name: Literal["sentiment", "glue-sst2", "glue-qnli", "csv", "jsonl"] = "sentiment"
    # Files (glue-*, csv, jsonl): training file, test file; the public (pre-training) text is the
    # training file's text without labels unless `public_path` is given.
    path: str | None = None
    test_path: str | None = None
    public_path: str | None = None
    text_columns: list[str] = Field(default_factory=lambda: ["sentence"])  # csv/jsonl
    label_column: str = "label"  # csv/jsonl
    # Built-in generated data (sentiment): sizes and difficulty.
    num_train: int = Field(2000, ge=2)
    num_test: int = Field(500, ge=1)
    num_public: int = Field(3000, ge=0)  # unlabelled sentences for pre-training the base
    label_noise: float = Field(0.05, ge=0, lt=0.5)  # fraction of training labels flipped
    max_train: int | None = Field(None, ge=2)  # cap on rows read from a file
    max_test: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _files_for_file_datasets(self) -> DatasetConfig:
        if self.name != "sentiment" and not self.path:
            raise ValueError(f"path is required for the {self.name!r} data set")
        return self


class ModelConfig(Section):
    # tiny-llama: a Llama built from these dimensions with random init; local: a save_pretrained directory.
    source: Literal["tiny-llama", "local"] = "tiny-llama"
    path: str | None = None
    hidden_size: int = Field(64, ge=8)
    num_layers: int = Field(2, ge=1)
    num_heads: int = Field(4, ge=1)
    num_kv_heads: int = Field(2, ge=1)
    intermediate_size: int = Field(128, ge=8)
    max_seq_len: int = Field(24, ge=4)  # tokens per example after truncation/padding

    @model_validator(mode="after")
    def _heads(self) -> ModelConfig:
        if self.source == "local" and not self.path:
            raise ValueError("path is required when source is 'local'")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by num_heads ({self.num_heads})")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_heads ({self.num_heads}) must be divisible by num_kv_heads ({self.num_kv_heads})")
        return self


class PretrainConfig(Section):
    """Pre-training of the base on the public split (causal LM), cached on disk by content hash."""

    steps: int = Field(1000, ge=0)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(3e-3, gt=0)
    # None: $FEDWIRELESS_CACHE or ~/.cache/fedwireless, under base-models/.
    cache_dir: str | None = None


class PartitionConfig(Section):
    # iid: shuffled equal shares; dirichlet: label shares per device ~ Dir(alpha); by-group: each device
    # group prefers one label (group index mod number of labels) for `group_share` of its data.
    kind: Literal["iid", "dirichlet", "by-group"] = "iid"
    alpha: float = Field(0.5, gt=0)
    group_share: float = Field(0.8, ge=0, le=1)


class EvalConfig(Section):
    max_samples: int | None = Field(None, ge=1)  # None: the whole test split
    batch_size: int = Field(256, ge=1)


class TaskConfig(Section):
    kind: Literal["classification", "causal-lm"] = "classification"
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig)
    partition: PartitionConfig = Field(default_factory=PartitionConfig)
    local_steps: int = Field(10, ge=1)  # optimizer steps per selected client per round
    batch_size: int = Field(16, ge=1)
    lr: float = Field(3.5e-3, gt=0)  # AdamW, fresh each round (clients keep no optimizer state)
    max_grad_norm: float | None = Field(1.0, gt=0)
    eval: EvalConfig = Field(default_factory=EvalConfig)


class CodecConfig(Section):
    name: str = "none"
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> CodecConfig:
        from fedwireless.codecs import validate_codec_params

        validate_codec_params(self.name, self.params)
        return self


class FederatedConfig(Section):
    ranks: list[int] = Field(default_factory=lambda: [8], min_length=1)  # LoRA ranks devices can train
    # lora_alpha = alpha_per_rank · r keeps the LoRA scale alpha/r equal across ranks, so products
    # B·A of different ranks are directly comparable in aggregation.
    alpha_per_rank: float = Field(2.0, gt=0)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"], min_length=1)
    aggregation: Literal["fedavg", "hetlora", "flexlora", "flora"] = "fedavg"
    training: Literal["lora", "full"] = "lora"  # full: full-parameter differential updates
    clients_per_round: int | None = Field(None, ge=1)
    codec: CodecConfig = Field(default_factory=CodecConfig)

    @field_validator("ranks")
    @classmethod
    def _ranks(cls, v: list[int]) -> list[int]:
        if any(r < 1 for r in v):
            raise ValueError(f"every rank must be >= 1, got {v}")
        if sorted(set(v)) != v:
            raise ValueError(f"must be strictly increasing without repeats, got {v}")
        return v

    @field_validator("target_modules")
    @classmethod
    def _modules(cls, v: list[str]) -> list[str]:
        known = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
        bad = [m for m in v if m not in known]
        if bad:
            raise ValueError(f"unknown module(s) {bad}; known: {sorted(known)}")
        return v
