"""The `task:` section of a scenario. Imports no torch (the validate path uses it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from fedwireless.cellular.columns import AREAS, DEFAULT_FEATURES, DEFAULT_TARGET, TRACE_COLUMNS
from fedwireless.config_base import Section
from fedwireless.learning.registry import CELLULAR_DATASETS, DATASETS


class DatasetConfig(Section):
    # cellular: generated drive-test traces (fedwireless.cellular.traces); berlin-v2x: a Berlin V2X
    # cellular table the user has (CSV, or parquet with pyarrow) at `path`.
    # instructions: generated prompts and responses with helpfulness/safety labels (personalized fine-tuning),
    # or a JSONL file of them at `path`.
    name: Literal[DATASETS] = "sentiment"
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
    # Generated instructions: the topics the public (pre-training) split covers; None: all. The reward models
    # then train on a labelled split of every topic.
    public_topics: list[str] | None = None
    label_noise: float = Field(0.05, ge=0, lt=0.5)  # fraction of training labels flipped
    # sentiment: titles and cast names from a generated lexicon of this many pseudo-words (a large vocabulary)
    lexicon: int = Field(0, ge=0, le=1_000_000)
    max_train: int | None = Field(None, ge=2)  # cap on rows read from a file
    max_test: int | None = Field(None, ge=1)
    # Cellular tables (cellular, berlin-v2x): rows as text `k = v ... --> target = value`.
    rows_per_area: int = Field(2000, ge=10)  # generated traces
    areas: list[str] | None = None  # generated: areas driven (default all five); berlin-v2x: areas kept
    features: list[str] = Field(default_factory=lambda: list(DEFAULT_FEATURES), min_length=1)
    target: str = DEFAULT_TARGET
    test_fraction: float = Field(0.2, gt=0, lt=1)  # last fraction of each area's rows, in time order
    tokenizer_vocab: int = Field(237, ge=16)  # SentencePiece upper bound (the paper's size-0 vocabulary)
    column_map: dict[str, str | None] = Field(default_factory=dict)  # berlin-v2x: our name -> file column
    datarate_scale: float = Field(1e-6, gt=0)  # berlin-v2x: file data-rate unit -> Mbit/s

    @model_validator(mode="after")
    def _files_for_file_datasets(self) -> DatasetConfig:
        if self.name not in ("sentiment", "cellular", "instructions") and not self.path:
            raise ValueError(f"path is required for the {self.name!r} data set")
        if self.public_topics is not None:
            from fedwireless.learning.instructions import TOPICS

            if self.name != "instructions" or self.path:
                raise ValueError("public_topics: applies to the generated instructions data set only")
            unknown = sorted(set(self.public_topics) - set(TOPICS))
            if unknown or not self.public_topics or len(set(self.public_topics)) != len(self.public_topics):
                raise ValueError(
                    f"public_topics: must name some of {', '.join(TOPICS)}, each once, got {self.public_topics}"
                )
        if self.lexicon and self.name != "sentiment":
            raise ValueError(f"lexicon: applies to the generated sentiment data set only, got {self.name!r}")
        if self.name in CELLULAR_DATASETS:
            known = [c for c in TRACE_COLUMNS if c not in ("time_s", "area")]
            bad = [c for c in (*self.features, self.target) if c not in known]
            if bad:
                raise ValueError(f"features/target: unknown column(s) {bad}; known: {', '.join(known)}")
            if self.target in self.features:
                raise ValueError(f"target {self.target!r} must not also be a feature")
            if self.name == "cellular" and self.areas is not None:
                unknown = [a for a in self.areas if a not in AREAS]
                if unknown or not self.areas:
                    raise ValueError(f"areas: must name some of {', '.join(AREAS)}, got {self.areas}")
        return self


class ModelConfig(Section):
    # tiny-llama: a Llama built from these dimensions, pre-trained on the public split; local: a
    # save_pretrained directory; tlm: the cellular paper's llama2.c-style sizes 0/1/2, trained from
    # scratch (the dimension fields below do not apply; max_seq_len follows the longest row).
    source: Literal["tiny-llama", "local", "tlm"] = "tiny-llama"
    path: str | None = None
    size: Literal[0, 1, 2] = 0  # tlm
    # tlm: embedding rows = max(tokenizer pieces, min_vocab_size); 237 gives the paper's 409,472
    # parameters for size 0 (our tokenizer needs fewer pieces; the extra rows are never input).
    min_vocab_size: int = Field(237, ge=1)
    hidden_size: int = Field(64, ge=8)
    num_layers: int = Field(2, ge=1)
    num_heads: int = Field(4, ge=1)
    num_kv_heads: int = Field(2, ge=1)
    intermediate_size: int = Field(128, ge=8)
    max_seq_len: int = Field(24, ge=4)  # tokens per example after truncation/padding
    dropout: float = Field(0.0, ge=0, lt=1)  # tlm: llama2.c's dropout (embeddings, attention, residual outputs)

    @model_validator(mode="after")
    def _heads(self) -> ModelConfig:
        if self.source == "local" and not self.path:
            raise ValueError("path is required when source is 'local'")
        if self.dropout and self.source != "tlm":
            raise ValueError(f"dropout applies to source 'tlm' only, got source {self.source!r}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by num_heads ({self.num_heads})")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_heads ({self.num_heads}) must be divisible by num_kv_heads ({self.num_kv_heads})")
        return self


class TokenizerConfig(Section):
    """Text tasks: word vocabulary of the most frequent words, or a SentencePiece model trained on the run's
    text (no unknown words). Local models keep the vocabulary they were trained with."""

    kind: Literal["word", "sentencepiece"] = "word"
    vocab_size: int = Field(8000, ge=16)


class PretrainConfig(Section):
    """Pre-training of the base on the public split (causal LM), cached on disk by content hash."""

    steps: int = Field(2000, ge=0)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(3e-3, gt=0)
    # None: $FEDWIRELESS_CACHE or ~/.cache/fedwireless, under base-models/.
    cache_dir: str | None = None


class PartitionConfig(Section):
    # iid: shuffled equal shares; dirichlet: label shares per device ~ Dir(alpha); by-group: each device
    # group prefers one label (group index mod number of labels) for `group_share` of its data;
    # by-area (cellular data): each device holds one area's rows — the area named like its device group,
    # else areas in turn by device index; devices of the same area split its rows.
    kind: Literal["iid", "dirichlet", "by-group", "by-area"] = "iid"
    alpha: float = Field(0.5, gt=0)
    # dirichlet: equal shares per device, each device's label mix ~ Dir(alpha) (else each label's rows are
    # split over devices by Dir(alpha) shares, and shares differ in size).
    balanced: bool = False
    group_share: float = Field(0.8, ge=0, le=1)

    @model_validator(mode="after")
    def _balanced(self) -> PartitionConfig:
        if self.balanced and self.kind != "dirichlet":
            raise ValueError(f"balanced: applies to kind 'dirichlet' only, got kind {self.kind!r}")
        return self


class EvalConfig(Section):
    max_samples: int | None = Field(None, ge=1)  # None: the whole test split
    batch_size: int = Field(256, ge=1)
    # Causal LM on cellular rows: which tokens `accuracy`/`perplexity` count. span: the predicted target
    # value and </s> (ours); all: every real token (the paper's unmasked variant). Both are reported.
    tokens: Literal["span", "all"] = "span"
    # Share of each device's data held out (never trained on) to evaluate the global model per device;
    # cellular devices of one area use that area's held-out rows instead.
    device_holdout: float = Field(0.1, ge=0, lt=1)


class OptimizerConfig(Section):
    """AdamW and the learning-rate schedule of each local training (and of nothing else)."""

    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = Field(0.0, ge=0)
    # constant, or warmup-cosine: linear warm-up, then cosine decay to min_lr_ratio·lr by the last step.
    schedule: Literal["constant", "warmup-cosine"] = "constant"
    # round: restarts every round; run: one schedule over rounds × local steps, round r at (r − 1) × steps.
    schedule_span: Literal["round", "run"] = "round"
    warmup_fraction: float = Field(0.1, ge=0, lt=1)
    warmup_steps: int | None = Field(None, ge=0)  # warm-up length in steps; overrides warmup_fraction
    min_lr_ratio: float = Field(0.0, ge=0, le=1)
    # Keep each client's AdamW moments from one round to the next (else a fresh AdamW every round).
    persistent: bool = False

    @field_validator("betas")
    @classmethod
    def _betas(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in v):
            raise ValueError(f"each beta must be in [0, 1), got {list(v)}")
        return v


class TaskConfig(Section):
    kind: Literal["classification", "causal-lm"] = "classification"
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    # Further named models a device group can run instead (`devices[].model`; federated distillation only):
    # tiny-llama dimensions, each pre-trained on the same public split with the same tokenizer.
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig)
    partition: PartitionConfig = Field(default_factory=PartitionConfig)
    local_steps: int = Field(10, ge=1)  # optimizer steps per selected client per round
    # Instead of local_steps: passes over the client's own data per round (steps = epochs·ceil(n/batch)).
    local_epochs: float | None = Field(None, gt=0)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(3.5e-3, gt=0)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    max_grad_norm: float | None = Field(1.0, gt=0)
    # Causal LM on cellular rows: tokens in the training loss (all: next-token prediction over the whole
    # row, as the paper trains; span: only the predicted value).
    train_tokens: Literal["all", "span"] = "all"
    eval: EvalConfig = Field(default_factory=EvalConfig)
    # Where models train and evaluate: auto (a CUDA GPU when torch sees one, else the CPU), cpu or cuda.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Autocast of training forward passes: fp32 (none), bf16 or fp16 (fp16 is meant for CUDA).
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"

    @model_validator(mode="after")
    def _pairs(self) -> TaskConfig:
        cellular = self.dataset.name in CELLULAR_DATASETS
        if cellular != (self.model.source == "tlm"):
            raise ValueError(
                "model.source 'tlm' and the cellular data sets (cellular, berlin-v2x) go together, got "
                f"model.source={self.model.source!r} with dataset.name={self.dataset.name!r}"
            )
        if cellular and self.kind != "causal-lm":
            raise ValueError(f"kind: cellular rows are a next-token (causal-lm) task, got {self.kind!r}")
        for name, m in self.models.items():
            if m.source != "tiny-llama" or m.max_seq_len < self.model.max_seq_len:
                raise ValueError(
                    f"models.{name}: extra models must be tiny-llama and take the task's sequences "
                    f"(max_seq_len >= {self.model.max_seq_len}), got source {m.source!r}, max_seq_len {m.max_seq_len}"
                )
        if self.partition.kind == "by-area" and not cellular:
            raise ValueError(f"partition.kind 'by-area' needs a cellular data set, got {self.dataset.name!r}")
        return self
