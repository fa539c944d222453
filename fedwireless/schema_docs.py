"""The scenario JSON Schema, documented: field descriptions from the comments beside each field in the config
classes, and the policy and codec parameters spelled out per name (what `fedwireless schema` prints)."""

from __future__ import annotations

import inspect
import io
import textwrap
import tokenize
from typing import Any


def field_comments(cls: type) -> dict[str, str]:
    """Comments of each field of a config class: the full-line comments right above it and its trailing one."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    pending: list[str] = []
    line_fields: dict[int, str] = {}
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.NAME and tok.start[1] == 4 and i + 1 < len(tokens) and tokens[i + 1].string == ":":
            line_fields[tok.start[0]] = tok.string
            if pending:
                out[tok.string] = " ".join(pending)
            pending = []
        elif tok.type == tokenize.COMMENT:
            text = tok.string.lstrip("#").strip()
            if text.startswith("fmt:") or text.startswith("noqa"):
                continue
            owner = line_fields.get(tok.start[0])
            if owner is not None:  # trailing comment of a field line
                out[owner] = f"{out[owner]} {text}" if owner in out else text
            elif tok.start[1] == 4:
                pending.append(text)
        elif tok.type == tokenize.NL and tok.start[1] == 0:
            continue
        elif tok.type == tokenize.NAME and tok.start[0] not in line_fields and tok.start[1] <= 4:
            pending = []
    return out


# Fields whose meaning no comment beside them spells out (the rest are documented where they are defined).
DESCRIPTIONS: dict[str, str] = {
    "kind": "which variant of this section",
    "name": "a name for this entry (used in results and plots)",
    "center_m": "centre [x, y] in metres",
    "radius_m": "radius in metres",
    "inner_radius_m": "inner radius in metres",
    "outer_radius_m": "outer radius in metres",
    "positions_m": "one [x, y] position in metres per device",
    "position_m": "[x, y] position in metres",
    "carrier_ghz": "carrier frequency in GHz",
    "coherence_step_s": "step of the correlated channel during an upload, in seconds",
    "j_per_flop": "energy per FLOP in joules (FLOP-based compute energy)",
    "cpu_hz": "CPU frequency in Hz (cycles-based compute energy: κ·cycles·f²)",
    "min_cpu_hz": "lowest CPU frequency the policy may choose (DVFS); None: fixed at cpu_hz",
    "test_path": "test file (GLUE, CSV, JSONL)",
    "public_path": "unlabelled text file for pre-training (one text per line)",
    "num_test": "test examples generated (sentiment)",
    "max_test": "cap on test rows read from a file",
    "features": "columns written into each row's text (cellular)",
    "target": "column the model predicts (cellular)",
    "count": "number of devices in this group",
    "height_m": "antenna height in metres",
    "value_bits": "precision of each sent log-probability: 32, 16 or 8 bits",
    "temperature": "distillation temperature τ",
    "hidden_layer": "layer whose input the hidden projection reads (negative: from the top)",
    "batch_size": "examples per batch",
    "lora_dropout": "dropout on the LoRA branch",
    "target_modules": "projections LoRA adapts (Llama: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)",
    "aggregation": "how LoRA updates combine: fedavg, hetlora, flexlora, flora",
    "clients_per_round": "at most this many devices train per round (None: the policy decides)",
    "batch_clients": "train a round's LoRA clients in one batched pass (as one by one; summary.json says which ran)",
    "path": "local file or directory",
    "hidden_size": "model width",
    "num_layers": "transformer blocks",
    "num_heads": "attention heads",
    "num_kv_heads": "key/value heads (grouped-query attention)",
    "intermediate_size": "feed-forward width",
    "betas": "AdamW (β1, β2)",
    "weight_decay": "AdamW decoupled weight decay",
    "warmup_fraction": "share of the schedule's steps spent warming the learning rate up (warmup-cosine)",
    "warmup_steps": "warm-up length in optimizer steps; overrides warmup_fraction (warmup-cosine)",
    "schedule_span": "round: the schedule restarts every round; run: one schedule over rounds × local steps",
    "min_lr_ratio": "learning rate at the last step, as a share of lr (warmup-cosine)",
    "plots": "draw PNG plots at the end of a run",
    "batch_group_size": "batched training: at most this many clients in one batch (cohort cut in device order)",
    "format": "results tables as csv or parquet; auto: Parquet for a table of over 1,000,000 rows",
    "device_rows": "devices table rows: all devices, a fixed sampled share of them, or none",
    "device_rows_rate": "share of devices whose rows are kept when device_rows is sampled",
    "enabled": "turn this model on",
    "alpha": "Dirichlet concentration (smaller: more skewed label shares)",
    "group_share": "share of a by-group device's data drawn from its group's label",
    "model": "the model of this section",
    "steps": "optimizer steps",
    "lr": "learning rate",
    "pause_s": "pause at each waypoint, in seconds",
    "initial_accuracy": "accuracy before any round",
    "max_accuracy": "accuracy the curve approaches",
    "rate": "share of the remaining gap closed per round at full participation",
    "rank_half": "rank at which an update carries half of a full update's progress",
    "max_grad_norm": "clip each client's gradient norm to this (None: no clipping)",
    "vocab_size": "tokenizer vocabulary size (word: the most frequent words kept; sentencepiece: pieces)",
    "zone": "name of a zone in `zones:`",
}


def _json_type(spec) -> dict[str, Any]:
    kind = {"bool": "boolean", "int": "integer", "float": "number"}.get(spec.kind)
    out: dict[str, Any] = {"enum": list(spec.choices)} if spec.kind == "choice" else {"type": kind}
    if spec.low is not None:
        out["exclusiveMinimum" if spec.low_open else "minimum"] = spec.low
    if spec.high is not None:
        out["exclusiveMaximum" if spec.high_open else "maximum"] = spec.high
    return out


def document(schema: dict[str, Any], classes: dict[str, type]) -> dict[str, Any]:
    """Add descriptions and per-name parameter schemas to a pydantic JSON Schema (in place; returned)."""
    from fedwireless.codecs.params import CODEC_PARAM_SPECS
    from optimizers.params import PARAM_DOCS, POLICY_DOCS, POLICY_PARAMS, WRAPPER_PARAMS

    defs = schema.get("$defs", {})
    for name, cls in classes.items():
        props = defs.get(name, {}).get("properties", {})
        for field, text in field_comments(cls).items():
            if field in props and "description" not in props[field]:
                props[field]["description"] = text
    for d in defs.values():
        for field, prop in d.get("properties", {}).items():
            if "description" in prop:
                continue
            options = [prop, *prop.get("anyOf", []), *prop.get("oneOf", [])]
            refs = [r["$ref"].rsplit("/", 1)[-1] for r in options if "$ref" in r]
            if refs:  # a nested section
                prop["description"] = f"the `{field}` section ({', '.join(refs)})"
            elif field in DESCRIPTIONS:
                prop["description"] = DESCRIPTIONS[field]
    policy = defs["PolicyConfig"]["properties"]
    policy["name"].update(enum=list(POLICY_PARAMS), description="; ".join(f"{k}: {v}" for k, v in POLICY_DOCS.items()))
    keys = sorted({k for v in POLICY_PARAMS.values() for k in v} | set(WRAPPER_PARAMS))
    policy["params"].update(
        description="the named policy's parameters (`fedwireless list policies`)",
        properties={k: {"description": PARAM_DOCS[k]} for k in keys},
    )
    defs["PolicyConfig"]["allOf"] = [
        {
            "if": {"properties": {"name": {"const": name}}},
            "then": {"properties": {"params": {"propertyNames": {"enum": [*params, *WRAPPER_PARAMS]}}}},
        }
        for name, params in POLICY_PARAMS.items()
    ]
    codec = defs["CodecConfig"]["properties"]
    codec["name"].update(enum=list(CODEC_PARAM_SPECS), description="update codec (`fedwireless list codecs`)")
    codec["params"]["description"] = "the named codec's parameters"
    defs["CodecConfig"]["allOf"] = [
        {
            "if": {"properties": {"name": {"const": name}}},
            "then": {
                "properties": {
                    "params": {
                        "properties": {
                            k: {**_json_type(s), "default": s.default, "description": s.doc} for k, s in specs.items()
                        },
                        "additionalProperties": False,
                    }
                }
            },
        }
        for name, specs in CODEC_PARAM_SPECS.items()
    ]
    return schema
