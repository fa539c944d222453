"""Evaluation of the global model: on the test split, and on each device's own held-out rows.

Classification: accuracy, loss, macro-F1 (mean over classes of 2·P·R/(P+R)), balanced accuracy (mean
per-class recall) and the majority-class baseline (accuracy of always answering the test split's most
frequent class). Causal LM: next-token accuracy, loss and perplexity over the counted tokens; where rows have a
span (the predicted value of cellular rows, the response of instruction rows) both the span and every real token
are reported, `eval.tokens` names the headline.
"""

from __future__ import annotations

import numpy as np
import torch

from fedwireless.learning.setup import TaskData


def _score_rows(model, ids, mask, span, labels, classify: bool, batch_size: int) -> dict[str, np.ndarray]:
    """Per row: classification `nll` and `pred`; causal LM per token kind `<kind>_nll/_hits/_count` sums.

    Rows go through in batches of similar length (longest first), each padded to its own longest row, and
    come back in their own order: every row's figures are its own, so the grouping changes nothing but time.
    """
    out: dict[str, list] = {}

    def put(key: str, value: torch.Tensor) -> None:
        value = value.detach().cpu()
        out.setdefault(key, []).append(value.double().numpy() if value.is_floating_point() else value.numpy())

    device = next(model.parameters()).device
    order = np.argsort(-mask.sum(axis=1), kind="stable")

    def on(x: np.ndarray, rows: np.ndarray, width: int | None = None) -> torch.Tensor:
        part = x[rows] if width is None else x[rows, :width]
        return torch.from_numpy(np.ascontiguousarray(part)).to(device)

    for i in range(0, len(ids), batch_size):
        rows = order[i : i + batch_size]
        width = max(int(mask[rows].sum(axis=1).max()), 1)
        b_ids, b_mask = on(ids, rows, width), on(mask, rows, width)
        logits = model(input_ids=b_ids, attention_mask=b_mask).logits.float()
        if classify:
            y = on(labels, rows)
            put("nll", torch.nn.functional.cross_entropy(logits, y, reduction="none"))
            put("pred", logits.argmax(-1))
            continue
        targets = b_ids[:, 1:]
        nll = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none"
        ).reshape(targets.shape)
        hit = logits[:, :-1].argmax(-1) == targets
        valid = {"all": b_mask[:, 1:] == 1}
        if span is not None:
            valid["span"] = valid["all"] & (on(span, rows, width)[:, 1:] == 1)
        for key, v in valid.items():
            put(f"{key}_nll", torch.where(v, nll, 0.0).sum(dim=1))
            put(f"{key}_hits", (hit & v).sum(dim=1))
            put(f"{key}_count", v.sum(dim=1))
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    return {k: np.concatenate(v)[back] for k, v in out.items()}


def _metrics(rows: dict[str, np.ndarray], labels: np.ndarray, classify: bool, num_labels: int, headline: str,
             cellular: bool) -> dict[str, float]:  # fmt: skip
    if classify:
        n = max(len(labels), 1)
        confusion = np.zeros((num_labels, num_labels), dtype=np.int64)
        np.add.at(confusion, (labels, rows["pred"]), 1)
        return {"accuracy": float((rows["pred"] == labels).sum() / n), "loss": float(rows["nll"].sum() / n),
                **classification_metrics(confusion)}  # fmt: skip
    out = {}
    for kind in ("all", "span"):
        if f"{kind}_count" in rows:
            n = max(int(rows[f"{kind}_count"].sum()), 1)
            out[kind] = {
                "accuracy": float(rows[f"{kind}_hits"].sum() / n),
                "loss": float(rows[f"{kind}_nll"].sum() / n),
            }
    if not cellular:
        return {**out["all"], "perplexity": float(np.exp(out["all"]["loss"]))}
    primary = out[headline]
    metrics = {**primary, "perplexity": float(np.exp(primary["loss"]))}
    for key, name in (("span", "span"), ("all", "all_tokens")):
        metrics[f"{name}_accuracy"] = out[key]["accuracy"]
        metrics[f"{name}_perplexity"] = float(np.exp(out[key]["loss"]))
    return metrics


def classification_metrics(confusion: np.ndarray) -> dict[str, float]:
    """Macro-F1 and balanced accuracy from a confusion matrix [true, predicted]; absent classes skipped."""
    tp = np.diag(confusion).astype(float)
    true_n, pred_n = confusion.sum(axis=1), confusion.sum(axis=0)
    present = true_n > 0
    recall = np.divide(tp, true_n, out=np.zeros_like(tp), where=true_n > 0)
    precision = np.divide(tp, pred_n, out=np.zeros_like(tp), where=pred_n > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=precision + recall > 0)
    if not present.any():
        return {"macro_f1": 0.0, "balanced_accuracy": 0.0}
    return {"macro_f1": float(f1[present].mean()), "balanced_accuracy": float(recall[present].mean())}


@torch.inference_mode()
def evaluate(model: torch.nn.Module, data: TaskData, task, per_device: bool = True) -> tuple[dict, list[dict]]:
    """Metrics on the test split and, per device, on its held-out rows (empty dicts where it has none)."""
    model.eval()
    classify = task.kind == "classification"
    cellular = data.train_span is not None
    bs, k = task.eval.batch_size, max(data.num_labels, 1)
    rows = _score_rows(model, data.test_ids, data.test_mask, data.test_span, data.test_labels, classify, bs)
    metrics = _metrics(rows, data.test_labels, classify, k, task.eval.tokens, cellular)
    if classify and len(data.test_labels):
        metrics["majority_baseline"] = float(np.bincount(data.test_labels, minlength=k).max() / len(data.test_labels))
    if not per_device:
        return metrics, []
    if data.device_eval_split == "test":
        pool = rows
        index = data.device_eval
        labels = data.test_labels
    else:  # one pass over every device's held-out training rows
        held = np.concatenate([r for r in data.device_eval]) if data.device_eval else np.zeros(0, dtype=np.int64)
        span = None if data.train_span is None else data.train_span[held]
        pool = _score_rows(model, data.train_ids[held], data.train_mask[held], span, data.train_labels[held],
                           classify, bs) if len(held) else {}  # fmt: skip
        offsets = np.cumsum([0] + [len(r) for r in data.device_eval])
        index = [np.arange(offsets[d], offsets[d + 1]) for d in range(len(data.device_eval))]
        labels = data.train_labels[held]
    devices = []
    for sel in index:
        if len(sel) == 0:
            devices.append({})
            continue
        sub = {key: v[sel] for key, v in pool.items()}
        devices.append(_metrics(sub, labels[sel], classify, k, task.eval.tokens, cellular))
    return metrics, devices


@torch.inference_mode()
def device_metrics(model: torch.nn.Module, data: TaskData, task, device: int) -> dict:
    """Metrics of `model` on one device's held-out rows (empty if it has none)."""
    rows = data.device_eval[device]
    if len(rows) == 0:
        return {}
    model.eval()
    classify = task.kind == "classification"
    src = "test" if data.device_eval_split == "test" else "train"
    ids, mask = getattr(data, f"{src}_ids")[rows], getattr(data, f"{src}_mask")[rows]
    span = getattr(data, f"{src}_span")
    labels = getattr(data, f"{src}_labels")[rows]
    scored = _score_rows(model, ids, mask, None if span is None else span[rows], labels, classify, task.eval.batch_size)
    return _metrics(scored, labels, classify, max(data.num_labels, 1), task.eval.tokens, data.train_span is not None)
