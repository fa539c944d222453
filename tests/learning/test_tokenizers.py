"""Word and SentencePiece tokenizers: fixed-length arrays, markers, and the truncation they report."""

from __future__ import annotations

import numpy as np

from fedwireless.learning.config import TaskConfig
from fedwireless.learning.sentiment import public_reviews
from fedwireless.learning.tokenizers import PieceTokenizer, WordTokenizer, make_tokenizer, words


def test_word_tokenizer_keeps_markers_and_reports_truncation():
    texts = public_reviews(50, np.random.default_rng(2))
    assert all("[CLS]" in t for t in texts)
    assert words("Good [CLS] loved it [SEP] x") == ["good", "[CLS]", "loved", "it", "[SEP]", "x"]
    tok = WordTokenizer.build(texts)
    ids, mask, cut = tok.encode(["the movie was good", "a b c d e f g h"], 6, classify=True)
    assert ids[0, 0] == tok.bos_id and ids[0, 5] == tok.cls_id and mask[0].sum() == 6
    assert ids[1, -1] == tok.cls_id and mask[1].sum() == 6  # truncated, still ends with [CLS]
    assert cut.tolist() == [False, True]
    ids, mask, cut = tok.encode(["the movie", "the movie was good"], 5)  # LM text: BOS words EOS
    assert cut.tolist() == [False, True] and ids[0, 3] == tok.eos_id and mask[0].sum() == 4


def test_word_vocabulary_cap_and_unknown_share():
    tok = WordTokenizer.build(["a a a b b c"], max_size=8)  # 6 specials + the 2 most frequent words
    assert tok.vocab[6:] == ["a", "b"]
    assert tok.unknown_share(["a b c d"]) == 0.5


def test_sentencepiece_leaves_no_word_unknown():
    texts = public_reviews(400, np.random.default_rng(3))
    tok = PieceTokenizer.build(texts, vocab_size=120)
    assert tok.vocab[:4] == ["<pad>", "<unk>", "<s>", "</s>"] and len(tok) <= 120
    ids, mask, cut = tok.encode(["an unseenword review [CLS]"], 40, classify=True)
    body = ids[0, 1 : mask[0].sum() - 1]
    assert tok.unk_id not in body.tolist()  # byte-free unigram still covers every seen character
    assert ids[0, mask[0].sum() - 1] == tok.cls_id and not cut[0]
    # The same text always gives the same ids (model trained deterministically, in memory).
    again = PieceTokenizer(tok.model_bytes)
    assert np.array_equal(again.encode(["good film"], 10)[0], tok.encode(["good film"], 10)[0])


def test_make_tokenizer_follows_the_scenario():
    texts = public_reviews(300, np.random.default_rng(4))
    task = TaskConfig.model_validate({"tokenizer": {"kind": "sentencepiece", "vocab_size": 100}})
    assert make_tokenizer(task, texts).describe()["kind"] == "sentencepiece"
    task = TaskConfig.model_validate({"tokenizer": {"kind": "word", "vocab_size": 30}})
    assert make_tokenizer(task, texts).describe() == {"kind": "word", "vocab_size": 30}
