"""Row texts, SentencePiece tokenizer and the per-area task."""

import numpy as np
import pandas as pd
import pytest

from fedwireless.cellular.tokenize import (
    RowFormat,
    TabularTextTask,
    TabularTokenizer,
    format_rows,
    pad_batch,
    rows_to_text,
)
from fedwireless.cellular.traces import AREAS, generate_traces


@pytest.fixture(scope="module")
def df():
    return generate_traces(150, np.random.default_rng(11))


@pytest.fixture(scope="module")
def task(df):
    return TabularTextTask(df, test_fraction=0.2)


def test_row_text_format_and_rounding():
    frame = pd.DataFrame({"a_db": [-0.4, 2.55], "b": [3, 4], "y_ms": [12.34, 7.0], "area": ["P", "Q"]})
    fmt = RowFormat(feature_columns=("a_db", "b"), target_column="y_ms", decimals={"y_ms": 1})
    assert rows_to_text(frame, fmt) == ["a_db = 0 b = 3 --> y_ms = 12.3", "a_db = 3 b = 4 --> y_ms = 7.0"]
    prompts, values = format_rows(frame, fmt)
    assert prompts[0] == "a_db = 0 b = 3 --> y_ms =" and values == ["12.3", "7.0"]


def test_round_trip_and_single_pieces(task, df):
    tok = task.tokenizer
    texts = rows_to_text(df, task.fmt)
    assert all(tok.decode(tok.encode(t)) == t for t in texts)
    for piece in tok.pieces():
        body = piece.replace("\u2581", "")
        if any(ch.isdigit() for ch in body):
            assert len(body) == 1, piece  # digits are single pieces
    for sym in task.fmt.symbols:
        assert tok.encode_pieces(f"x {sym} y").count(sym) == 1  # column names, = and --> are one piece each
    assert tok.vocab_size <= 237


def test_tokenizer_bytes_round_trip(task, tmp_path):
    tok = task.tokenizer
    again = TabularTokenizer.from_bytes(tok.to_bytes())
    tok.save(tmp_path / "tok.model")
    loaded = TabularTokenizer.load(tmp_path / "tok.model")
    text = "speed_kmh = 42 cell_id = 3 --> datarate_mbps = 17"
    assert again.encode(text) == tok.encode(text) == loaded.encode(text)
    assert again.pieces() == tok.pieces()


def test_clients_split_and_sequences(task, df):
    assert task.clients == list(AREAS)
    assert all(task.num_samples(c) == 120 for c in task.clients)
    assert len(task.test) == 5 * 30
    assert list(pd.unique(task.test_clients)) == list(AREAS)
    tok = task.tokenizer
    seqs = task.train["Park"]
    park_texts = rows_to_text(df[df.area == "Park"].iloc[:120], task.fmt)
    for i in range(10):
        ids = seqs.ids[i]
        assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id
        assert tok.decode(ids[1:-1]) == park_texts[i]
        # the span decodes to the target value exactly
        value = park_texts[i].split("= ")[-1]
        assert tok.decode(ids[seqs.span_starts[i] : -1]) == value
        assert tok.id_to_piece(ids[seqs.span_starts[i] - 1]) in ("=", "\u2581")


def test_padded_batches_and_masks(task):
    batch = next(task.client_batches("Tunnel", 7, np.random.default_rng(0)))
    ids, att, mask = batch["input_ids"], batch["attention_mask"], batch["loss_mask"]
    assert ids.shape == att.shape == mask.shape and ids.shape[0] == 7
    assert bool((mask <= att).all())  # the span is never padding
    for b in range(7):
        n = int(att[b].sum())
        assert int(ids[b, n - 1]) == task.tokenizer.eos_id
        start = int(batch["span_start"][b])
        assert mask[b, start:n].all() and not mask[b, :start].any()
    sizes = [len(b["input_ids"]) for b in task.client_batches("Tunnel", 7, np.random.default_rng(0))]
    assert sum(sizes) == 120
    assert sum(len(b["input_ids"]) for b in task.test_batches(64)) == len(task.test)
    assert task.max_seq_len >= ids.shape[1]


def test_shuffling_uses_the_given_rng(task):
    first = [next(task.client_batches("Park", 8, np.random.default_rng(s)))["input_ids"] for s in (1, 1, 2)]
    assert first[0].equal(first[1]) and not first[0].equal(first[2])


def test_errors(df, task):
    with pytest.raises(ValueError, match="test_fraction"):
        TabularTextTask(df, test_fraction=1.0)
    with pytest.raises(ValueError, match="target_column"):
        RowFormat(feature_columns=("sinr_db",), target_column="sinr_db")
    with pytest.raises(ValueError, match="lacks columns"):
        format_rows(df, RowFormat(feature_columns=("nope",)))
    with pytest.raises(ValueError, match="unknown client"):
        task.num_samples("Moon")
    with pytest.raises(ValueError, match="clients"):
        TabularTextTask(df, clients=["Moon"])
    with pytest.raises(ValueError, match="index"):
        pad_batch(task.test, [], 0)
