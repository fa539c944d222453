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


def test_balanced_dirichlet_equal_shares_and_skewed_mixes():
    """Balanced Dirichlet: every row held once, device sizes within one row, and each device's label mix follows
    its Dir(alpha) draw: at alpha 0.1 one label holds most of a device (pools that run out spread the rest); at
    alpha 100 about 1/5."""
    labels = np.random.default_rng(3).integers(0, 5, 1000)
    for alpha, lo, hi in ((0.1, 0.6, 1.0), (100.0, 0.2, 0.4)):
        parts = partition(labels, 10, PartitionConfig(kind="dirichlet", alpha=alpha, balanced=True),
                          np.random.default_rng(4))  # fmt: skip
        flat = np.concatenate(parts)
        assert sorted(flat.tolist()) == list(range(1000))
        assert {len(p) for p in parts} == {100}
        top_share = np.mean([np.bincount(labels[p], minlength=5).max() / len(p) for p in parts])
        assert lo < top_share < hi, (alpha, top_share)


def test_public_topics_keep_topic_text_out_of_pretraining():
    """public_topics: the public split names only the kept topics' subjects; the reward models' rows cover all."""
    from fedwireless.learning.instructions import TOPICS

    cfg = DatasetConfig(name="instructions", num_train=50, num_test=10, num_public=400, public_topics=["cooking"])
    splits = load_splits(cfg, np.random.default_rng(0))
    names = splits.rows["public"].topics
    assert set(np.unique(splits.rows["public"].topic)) == {names.index("cooking")}
    travel = TOPICS["travel"]["steps"] + TOPICS["travel"]["hazards"]
    assert not any(s in text for text in splits.public for s in travel)
    assert len(np.unique(splits.rows["reward"].topic)) == len(TOPICS)
    whole = load_splits(DatasetConfig(name="instructions", num_train=50, num_test=10, num_public=400),
                        np.random.default_rng(0))  # fmt: skip
    assert whole.rows["reward"] is whole.rows["public"] and whole.train.texts == splits.train.texts
    with pytest.raises(ValueError, match="public_topics"):
        DatasetConfig(name="instructions", public_topics=["gardening"])


def test_lexicon_adds_names_and_leaves_reviews_and_labels():
    """lexicon: the same reviews and labels as without it, most of them with Zipf-drawn names around them, and
    enough distinct words for an 8,000-piece SentencePiece vocabulary."""
    from fedwireless.learning.tokenizers import PieceTokenizer

    plain = load_splits(DatasetConfig(num_train=300, num_test=50, num_public=40000), np.random.default_rng(1))
    named = load_splits(DatasetConfig(num_train=300, num_test=50, num_public=40000, lexicon=50000),
                        np.random.default_rng(1))  # fmt: skip
    assert np.array_equal(plain.train.labels, named.train.labels)
    assert all(p in n for p, n in zip(plain.train.texts, named.train.texts))
    changed = np.mean([p != n for p, n in zip(plain.public, named.public)])
    assert 0.75 < changed < 0.85  # NAME_SHARE 0.8
    tok = PieceTokenizer.build(list(named.train.texts) + named.public, 8000)
    assert len(tok.vocab) == 8000
    assert len(PieceTokenizer.build(list(plain.train.texts) + plain.public, 8000).vocab) < 500
    with pytest.raises(ValueError, match="lexicon"):
        DatasetConfig(name="instructions", lexicon=100)
