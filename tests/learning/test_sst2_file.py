"""A GLUE SST-2 style local file end to end: macro-F1, majority baseline and truncation are reported."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from fedwireless.cli import main

from ..conftest import TINY


def _tsv(path, rng, n, positive_share):
    words = ["good", "fine", "dull", "bad", "the", "film", "was", "a", "long", "story", "about", "it"]
    lines = ["sentence\tlabel"]
    labels = []
    for _ in range(n):
        y = int(rng.random() < positive_share)
        length = int(rng.integers(3, 30))  # some longer than max_seq_len = 16 tokens
        lines.append(" ".join(rng.choice(words, length)) + f" {'good' if y else 'bad'}\t{y}")
        labels.append(y)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return labels


def test_sst2_run_reports_f1_baseline_and_truncation(tmp_path, capsys):
    rng = np.random.default_rng(0)
    _tsv(tmp_path / "train.tsv", rng, 120, 0.3)
    dev = _tsv(tmp_path / "dev.tsv", rng, 40, 0.3)
    sc = {
        "name": "sst2-file",
        "rounds": 1,
        "devices": [{"count": 3}],
        "task": {
            "dataset": {
                "name": "glue-sst2",
                "path": str(tmp_path / "train.tsv"),
                "test_path": str(tmp_path / "dev.tsv"),
                "public_path": None,
            }
        },  # fmt: skip
        "output": {"plots": False},
    }
    path = tmp_path / "sc.yaml"
    path.write_text(yaml.safe_dump(sc), encoding="utf-8")
    sets = [a for k, v in TINY.items() if not k.startswith("task.dataset") for a in ("--set", f"{k}={v}")]
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet", *sets]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["final_majority_baseline"] == pytest.approx(max(np.mean(dev), 1 - np.mean(dev)))
    assert 0.0 <= summary["final_macro_f1"] <= 1.0 and 0.0 <= summary["final_balanced_accuracy"] <= 1.0
    # Texts of more than 14 words (BOS + words + CLS > 16 tokens) are cut; the share is reported and printed.
    texts = [line.split("\t")[0] for line in (tmp_path / "dev.tsv").read_text().splitlines()[1:]]
    expected = np.mean([len(t.split()) + 2 > 16 for t in texts])
    assert summary["truncated_share"]["test"] == pytest.approx(expected, abs=1e-4) and expected > 0
    assert summary["tokenizer"]["kind"] == "word" and 0.0 <= summary["tokenizer"]["unknown_share_test"] < 0.5
    for label in ("macro-F1 / balanced accuracy", "majority-class baseline", "texts cut at max_seq_len"):
        assert label in printed
