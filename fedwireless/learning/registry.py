"""Names of the federated methods and LoRA aggregators, defined once: the scenario schema takes its choices from
here, `learning.methods.make_method` and `lora_aggregators.make_aggregator` their classes, without torch."""

METHODS = {
    "lora": ("fedwireless.learning.methods.lora", "LoraMethod"),
    "full": ("fedwireless.learning.methods.full", "FullParameterMethod"),
    "distill": ("fedwireless.learning.methods.distill", "DistillMethod"),
    "pwff": ("fedwireless.learning.methods.pwff", "PwffMethod"),
}

# LoRA aggregation (`federated.aggregation`): name -> class in `learning.methods.lora_aggregators`.
LORA_AGGREGATORS = {"fedavg": "FedAvg", "hetlora": "HetLoRA", "flexlora": "FlexLoRA", "flora": "FLoRA"}
