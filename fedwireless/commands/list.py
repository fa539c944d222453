"""`fedwireless list [policies|codecs|methods|aggregations|pathloss|datasets|fading]`: what a scenario can name."""

from __future__ import annotations

import argparse
import inspect

KINDS = ("policies", "codecs", "methods", "aggregations", "pathloss", "datasets", "fading")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", nargs="?", choices=KINDS, help="what to list (default: everything)")


def _policies() -> list[str]:
    from optimizers.params import PARAM_DOCS, POLICY_DOCS, POLICY_PARAMS, WRAPPER_PARAMS
    from optimizers.policies import POLICIES

    lines = []
    for name, params in POLICY_PARAMS.items():
        lines.append(f"  {name}: {POLICY_DOCS.get(name, '')}")
        sig = inspect.signature(POLICIES[name])
        for key in (*params, *WRAPPER_PARAMS):
            default = sig.parameters[key].default if key in sig.parameters else None
            shown = "none" if default in (None, inspect.Parameter.empty) else repr(default)
            lines.append(f"      {key} (default {shown}): {PARAM_DOCS.get(key, '')}")
    return lines


def _codecs() -> list[str]:
    from fedwireless.codecs.params import CODEC_PARAM_SPECS

    lines = []
    for name, specs in CODEC_PARAM_SPECS.items():
        lines.append(f"  {name}")
        for key, spec in specs.items():
            lines.append(f"      {key} (default {spec.default!r}; {spec.describe()}): {spec.doc}")
    return lines


def _simple(kind: str) -> list[str]:
    if kind == "methods":
        from fedwireless.learning.methods import METHODS

        return [f"  {name}" for name in METHODS]
    if kind == "aggregations":
        from fedwireless.learning.federated_config import FederatedConfig

        return [f"  {name}" for name in FederatedConfig.model_fields["aggregation"].annotation.__args__]
    if kind == "pathloss":
        from channels.pathloss import MODELS

        return [f"  {name}" for name in MODELS]
    if kind == "fading":
        from channels.fading import FADING_KINDS

        return [f"  {name}" for name in FADING_KINDS]
    from fedwireless.learning.registry import DATASETS

    return [f"  {name}" for name in DATASETS]


def run(args: argparse.Namespace) -> int:
    for kind in [args.kind] if args.kind else KINDS:
        lines = _policies() if kind == "policies" else _codecs() if kind == "codecs" else _simple(kind)
        print(f"{kind}:")
        print("\n".join(lines))
    return 0
