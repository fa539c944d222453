"""Built-in data set, file readers, tokenizer and partitions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fedwireless.learning.config import DatasetConfig, PartitionConfig
from fedwireless.learning.data import (
    generate_sentiment,
    load_splits,
    partition,
    read_glue,
    read_table,
)
from fedwireless.learning.sentiment import NEGATIONS, POSITIVE, sentiment_sentence

NOISE_TOL = 0.02  # measured label-noise rate vs configured, on 5000 samples


def test_sentiment_rules():
    rng = np.random.default_rng(0)
    for _ in range(300):
        text, label = sentiment_sentence(rng)
        clause = text.split(" but ")[-1].split(" yet ")[-1].split(" , ")[-1]
        positive = any(f" {w}" in f" {clause}" for w in POSITIVE)  # the word lists; the rules are re-derived
        negated = any(f" {n} " in f" {clause} " for n in NEGATIONS)
        assert label == int(positive != negated), text


def test_label_noise_rate():
    clean = generate_sentiment(5000, np.random.default_rng(1))
    noisy = generate_sentiment(5000, np.random.default_rng(1), label_noise=0.1)
    assert clean.texts == noisy.texts
    assert np.mean(clean.labels != noisy.labels) == pytest.approx(0.1, abs=NOISE_TOL)


def test_glue_and_table_readers(tmp_path):
    sst = tmp_path / "train.tsv"
    sst.write_text("sentence\tlabel\na fine film\t1\na dull film\t0\n")
    d = read_glue(sst, "glue-sst2")
    assert d.texts == ["a fine film", "a dull film"] and d.labels.tolist() == [1, 0]
    qnli = tmp_path / "qnli.tsv"
    qnli.write_text("index\tquestion\tsentence\tlabel\n0\twho?\tme.\tentailment\n1\twhy?\tno.\tnot_entailment\n")
    q = read_glue(qnli, "glue-qnli")
    assert q.texts[0] == "who? [SEP] me." and q.label_names == ("entailment", "not_entailment")
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence\tlabel\nonly-one-field\n")
    with pytest.raises(ValueError, match="line 2: expected 2"):
        read_glue(bad, "glue-sst2")
    jl = tmp_path / "d.jsonl"
    jl.write_text(json.dumps({"text": "hi", "y": "pos"}) + "\n{oops\n")
    with pytest.raises(ValueError, match="line 2: invalid JSON"):
        read_table(jl, "jsonl", ["text"], "y")
    csvf = tmp_path / "d.csv"
    csvf.write_text("text,y\nhello,pos\nbye,neg\n")
    t = read_table(csvf, "csv", ["text"], "y")
    assert t.label_names == ("neg", "pos") and t.labels.tolist() == [1, 0]
    with pytest.raises(ValueError, match="missing column"):
        read_table(csvf, "csv", ["body"], "y")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="task.dataset.path"):
        load_splits(DatasetConfig(name="csv", path=str(tmp_path / "nope.csv")), np.random.default_rng(0))


@pytest.mark.parametrize("kind", ["iid", "dirichlet", "by-group"])
def test_partitions_cover_every_device(kind):
    labels = np.random.default_rng(3).integers(0, 2, 1000)
    parts = partition(
        labels, 20, PartitionConfig(kind=kind, alpha=0.1), np.random.default_rng(4), ["a"] * 10 + ["b"] * 10
    )
    assert len(parts) == 20 and all(len(p) >= 1 for p in parts)
    flat = np.concatenate(parts)
    assert len(flat) == len(set(flat.tolist()))  # no sample held twice
    if kind == "dirichlet":  # alpha = 0.1 gives strongly skewed label mixes
        shares = [labels[p].mean() for p in parts if len(p) > 10]
        assert np.std(shares) > 0.2
    if kind == "by-group":
        assert labels[np.concatenate(parts[:10])].mean() < 0.35 < 0.65 < labels[np.concatenate(parts[10:])].mean()
