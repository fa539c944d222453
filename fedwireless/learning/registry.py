"""Names of the federated methods, defined once: the scenario schema takes its choices from here and
`learning.methods.make_method` its classes (module and class name, imported on demand), without torch."""

METHODS = {
    "lora": ("fedwireless.learning.methods.lora", "LoraMethod"),
    "full": ("fedwireless.learning.methods.full", "FullParameterMethod"),
    "distill": ("fedwireless.learning.methods.distill", "DistillMethod"),
    "pwff": ("fedwireless.learning.methods.pwff", "PwffMethod"),
}
