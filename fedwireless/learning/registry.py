"""Names defined once (federated methods, LoRA aggregators, data sets, Llama modules) and each method's scenario
rules: the scenario schema takes its choices from here, `learning.methods.make_method` and
`lora_aggregators.make_aggregator` their classes, and `scenario.rules` the rules of the method a scenario
trains with. Nothing here imports torch (checking a scenario must stay light)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

METHODS = {
    "lora": ("fedwireless.learning.methods.lora", "LoraMethod"),
    "full": ("fedwireless.learning.methods.full", "FullParameterMethod"),
    "distill": ("fedwireless.learning.methods.distill", "DistillMethod"),
    "pwff": ("fedwireless.learning.methods.pwff", "PwffMethod"),
}

DATASETS = ("sentiment", "glue-sst2", "glue-qnli", "csv", "jsonl", "cellular", "berlin-v2x", "instructions")
CELLULAR_DATASETS = ("cellular", "berlin-v2x")

# The Llama projections LoRA can target in the built-in models (tiny-llama, tlm); a local checkpoint names its own.
LLAMA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

# LoRA aggregation (`federated.aggregation`): name -> class in `learning.methods.lora_aggregators`.
LORA_AGGREGATORS = {"fedavg": "FedAvg", "hetlora": "HetLoRA", "flexlora": "FlexLoRA", "flora": "FLoRA"}


def _lora_rules(task: Any, fed: Any) -> list[str]:
    if task.optimizer.persistent and fed.aggregation in ("flexlora", "flora"):
        return [
            f"task.optimizer.persistent: true does not fit federated.aggregation {fed.aggregation!r}, whose clients "
            "restart from new adapter factors every round (the kept AdamW moments would describe other "
            "parameters); use fedavg or hetlora, or persistent: false"
        ]
    return []


def _distill_rules(task: Any, fed: Any) -> list[str]:
    if task.dataset.name in ("cellular", "berlin-v2x"):
        return [
            "federated.training: distill needs a public text split for its proxy batch; the cellular data "
            f"sets have none (task.dataset.name is {task.dataset.name!r})"
        ]
    return []


def _pwff_rules(task: Any, fed: Any) -> list[str]:
    if task.kind != "causal-lm" or len(fed.ranks) != 1:
        return [
            "federated.training: pwff fine-tunes a causal LM with one LoRA rank (task.kind: causal-lm, one entry in "
            f"federated.ranks), got kind {task.kind!r} and ranks {list(fed.ranks)}"
        ]
    return []


# Rules a scenario must meet to train with a method, given its task and federated sections: one message each.
METHOD_RULES: dict[str, Callable[[Any, Any], list[str]]] = {
    "lora": _lora_rules,
    "distill": _distill_rules,
    "pwff": _pwff_rules,
}
