"""Text tokenizers for the text tasks: a word vocabulary, or a SentencePiece model trained in memory.

Both give [n, max_len] id and mask arrays and say which texts did not fit (`truncated`), so a run can
report how much of its data the sequence length cuts. Ids 0–3 are [PAD], [UNK], [BOS], [EOS] in both;
classification texts end with [CLS] (the classifier reads the hidden state at that last token).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

SPECIALS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]", "[SEP]", "[CLS]")
_WORD = re.compile(r"\[sep\]|\[cls\]|[a-z0-9']+|[^\sa-z0-9']")


def words(text: str) -> list[str]:
    """Lower-cased words and punctuation; the markers [SEP] and [CLS] stay single tokens."""
    return [w.upper() if w in ("[sep]", "[cls]") else w for w in _WORD.findall(text.lower())]


class _Encoder:
    """Fixed-length arrays from per-text id lists (shared by both tokenizers)."""

    vocab: list[str]
    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3

    @property
    def cls_id(self) -> int:
        return self.vocab.index("[CLS]") if "[CLS]" in self.vocab else self.eos_id

    def text_ids(self, text: str) -> list[int]:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(
        self, texts: Sequence[str], max_len: int, classify: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ids [n, max_len], attention mask, and for each text whether it was cut to fit.

        Language-model text: BOS, tokens, EOS. Classification text: BOS, tokens (truncated), CLS.
        """
        ids = np.full((len(texts), max_len), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(texts), max_len), dtype=np.int64)
        cut = np.zeros(len(texts), dtype=bool)
        cls_id = self.cls_id
        for i, t in enumerate(texts):
            body = ([] if self.bos_id is None else [self.bos_id]) + self.text_ids(t)
            full = body + [cls_id if classify else self.eos_id]
            toks = body[: max_len - 1] + [cls_id] if classify else full[:max_len]
            cut[i] = len(full) > max_len
            ids[i, : len(toks)] = toks
            mask[i, : len(toks)] = 1
        return ids, mask, cut


class WordTokenizer(_Encoder):
    """Word-level vocabulary (sorted, so deterministic): the specials, then the most frequent words."""

    def __init__(self, vocab: Sequence[str]) -> None:
        self.vocab = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}

    @classmethod
    def build(cls, texts: Sequence[str], max_size: int = 8000) -> WordTokenizer:
        counts: dict[str, int] = {}
        for t in texts:
            for w in words(t):
                counts[w] = counts.get(w, 0) + 1
        ranked = sorted((w for w in counts if w not in SPECIALS), key=lambda w: (-counts[w], w))
        return cls(list(SPECIALS) + sorted(ranked[: max_size - len(SPECIALS)]))

    def text_ids(self, text: str) -> list[int]:
        return [self.index.get(w, self.unk_id) for w in words(text)]

    def unknown_share(self, texts: Sequence[str]) -> float:
        toks = [w for t in texts for w in words(t)]
        return sum(w not in self.index for w in toks) / max(len(toks), 1)

    def describe(self) -> dict[str, object]:
        return {"kind": "word", "vocab_size": len(self.vocab)}


class PieceTokenizer(_Encoder):
    """SentencePiece (unigram) trained in memory on the run's own text; subwords leave no word unknown."""

    def __init__(self, model_bytes: bytes) -> None:
        import sentencepiece as spm

        self.model_bytes = model_bytes
        self._sp = spm.SentencePieceProcessor(model_proto=model_bytes)
        self.vocab = [self._sp.id_to_piece(i) for i in range(self._sp.get_piece_size())]

    @classmethod
    def build(cls, texts: Sequence[str], vocab_size: int = 8000) -> PieceTokenizer:
        import io

        import sentencepiece as spm

        sample = [t.lower() for t in texts if t.strip()]
        if not sample:
            raise ValueError("task.tokenizer: no text to train a SentencePiece model on")
        out = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sample), model_writer=out, vocab_size=int(vocab_size), model_type="unigram",
            pad_id=0, unk_id=1, bos_id=2, eos_id=3, user_defined_symbols=["[SEP]", "[CLS]"],
            hard_vocab_limit=False, character_coverage=1.0, num_threads=1, minloglevel=2,
        )  # fmt: skip
        return cls(out.getvalue())

    def text_ids(self, text: str) -> list[int]:
        return list(self._sp.encode(text.lower().replace("[sep]", "[SEP]").replace("[cls]", "[CLS]")))

    def describe(self) -> dict[str, object]:
        return {"kind": "sentencepiece", "vocab_size": len(self.vocab)}


class HFTokenizer(_Encoder):
    """A local Hugging Face checkpoint's own tokenizer (`AutoTokenizer`, local files only, no remote code).

    Texts are framed as ours are: BOS (when the tokenizer has one), the text's tokens, then EOS (language
    modelling) or EOS as the classifier's last token. Encoders with a classifier token (BERT's [CLS] … [SEP],
    RoBERTa's <s> … </s>) get their own framing: that token first, where their pooler reads it. Padding uses
    the pad token, else EOS (the checkpoint's config then gets the same pad id).
    """

    def __init__(self, path: str | Path) -> None:
        from transformers import AutoTokenizer

        self._tok = AutoTokenizer.from_pretrained(Path(path), local_files_only=True, trust_remote_code=False)
        vocab = self._tok.get_vocab()
        self.vocab = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
        eos = self._tok.eos_token_id
        self.eos_id = int(eos if eos is not None else (self._tok.sep_token_id or 0))
        cls = self._tok.cls_token_id
        self.bos_id = cls if cls is not None and self._tok.sep_token_id is not None else self._tok.bos_token_id
        self.pad_id = int(self._tok.pad_token_id if self._tok.pad_token_id is not None else self.eos_id)
        self.unk_id = int(self._tok.unk_token_id if self._tok.unk_token_id is not None else self.pad_id)

    @property
    def cls_id(self) -> int:
        return self.eos_id

    def text_ids(self, text: str) -> list[int]:
        return list(self._tok(text, add_special_tokens=False)["input_ids"])

    def describe(self) -> dict[str, object]:
        return {"kind": f"local ({type(self._tok).__name__})", "vocab_size": len(self.vocab)}


def make_tokenizer(task, texts: Sequence[str]) -> WordTokenizer | PieceTokenizer | HFTokenizer:
    """The scenario's tokenizer: a local model's own (a Hugging Face tokenizer, else fedwireless's
    `tokenizer.model` or word `vocab.txt`), else built from `texts`."""
    cfg = task.tokenizer
    if task.model.source == "local":
        root = Path(task.model.path).expanduser()
        if (root / "tokenizer.json").is_file() or (root / "tokenizer_config.json").is_file():
            return HFTokenizer(root)  # a Hugging Face checkpoint with its own tokenizer
        piece_model = root / "tokenizer.model"
        if piece_model.is_file():  # a base fedwireless pre-trained with SentencePiece
            return PieceTokenizer(piece_model.read_bytes())
        vocab_file = Path(task.model.path).expanduser() / "vocab.txt"
        if not vocab_file.is_file():
            raise FileNotFoundError(
                f"task.model.path: {vocab_file} not found; a local model needs the word vocabulary it was "
                "trained with (one token per line), as fedwireless saves next to its base models"
            )
        return WordTokenizer(vocab_file.read_text(encoding="utf-8").splitlines())
    if cfg.kind == "sentencepiece":
        return PieceTokenizer.build(texts, cfg.vocab_size)
    return WordTokenizer.build(texts, cfg.vocab_size)
