"""Table rows as text, an in-memory SentencePiece tokenizer, and per-area client data for a causal LM.

Row text (Becking et al., arXiv 2504.01947 §II.A: tabular rows -> strings -> SentencePiece tokens)::

    speed_kmh = 31 cell_id = 0 rsrp_dbm = -108 rsrq_db = -17 sinr_db = -5 --> datarate_mbps = 12

Feature columns and the target are configurable (`RowFormat`); values are rounded to `decimals[column]`
digits after the point (default 0: integers, which keeps the vocabulary of digits and the predicted
span short; `-0` is written `0`). Non-numeric columns (area, band) are written as they are.

Tokenizer: SentencePiece BPE trained in memory on the training texts only, digits split into single
pieces (`split_digits=True`), column names, ``=`` and ``-->`` as user-defined symbols (always one
piece), identity normalisation (so decode(encode(text)) == text for single-spaced text). Ids: <unk> 0,
<s> 1, </s> 2; padding uses </s> with attention_mask = 0.

Vocabulary size: the paper's size-0 tokenizer has 237 pieces. With column names as single symbols and
digits split, our row texts contain too few distinct strings to learn 237 pieces: BPE can only merge
``▁`` with ``-`` (digits never merge), so the vocabulary saturates at 3 specials + the symbols + the
characters + 1 merge (24 for the default format). `vocab_size` is therefore an upper bound
(`hard_vocab_limit=False`); `TabularTokenizer.vocab_size` is what the model needs. To reproduce the
paper's 409,472 parameters exactly, build the model with `vocab_size=max(tokenizer.vocab_size, 237)`;
the unused embedding rows are never produced as inputs. (The paper's 237 presumably come from raw
Berlin V2X rows with more text fields and column names learned as sub-words; its code is not public.)

Clients and split: one client per value of `client_column` (default `area`, 5 clients as in the paper).
The test split is the last `test_fraction` of each area's rows in time order (a contiguous block, so
that correlated neighbouring samples do not leak between train and test); the rest is the client's
training data.

Predicted span: the target value's tokens after ``--> target =`` plus the closing </s> (a bare ``▁``
piece before the value is left out, being fixed by the format; ``▁-`` of a negative value is kept).
`span_start` is the index in the sequence of its first token; `loss_mask` is 1 on the span. The metrics in
`fedwireless.cellular.metrics` use it (masked) or ignore it (the paper's unmasked variant).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fedwireless.cellular.columns import DEFAULT_FEATURES, DEFAULT_TARGET

if TYPE_CHECKING:
    import pandas as pd
    import torch

TARGET_MARKER = "-->"
EQUALS = "="


@dataclass(frozen=True)
class RowFormat:
    """Which columns a row's text shows, which one is predicted, and how values are rounded."""

    feature_columns: tuple[str, ...] = DEFAULT_FEATURES
    target_column: str = DEFAULT_TARGET
    decimals: Mapping[str, int] = field(default_factory=dict)  # column -> digits after the point; default 0

    def __post_init__(self) -> None:
        if not self.feature_columns:
            raise ValueError("feature_columns must name at least one column, got ()")
        if self.target_column in self.feature_columns:
            raise ValueError(f"target_column {self.target_column!r} must not be among feature_columns")
        for c, d in self.decimals.items():
            if not (0 <= int(d) <= 6):
                raise ValueError(f"decimals[{c!r}] must be in [0, 6], got {d}")

    @property
    def symbols(self) -> tuple[str, ...]:
        """User-defined SentencePiece symbols: the column names, ``=`` and ``-->``."""
        return (*self.feature_columns, self.target_column, EQUALS, TARGET_MARKER)


def _format_column(values: Any, decimals: int) -> list[str]:
    arr = np.asarray(values)
    if arr.dtype.kind in "iub":
        return [str(int(v)) for v in arr]
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError("values must be finite; drop or fill NaN/inf rows before formatting")
        rounded = np.round(arr, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
        return [f"{v:.{decimals}f}" for v in rounded]
    return [str(v) for v in arr]


def format_rows(df: pd.DataFrame, fmt: RowFormat) -> tuple[list[str], list[str]]:
    """(prompt texts ``k = v ... --> target =``, target value texts) of every row of `df`."""
    missing = [c for c in (*fmt.feature_columns, fmt.target_column) if c not in df.columns]
    if missing:
        raise ValueError(f"df lacks columns {missing}; it has {list(df.columns)}")
    parts = [
        [f"{c} {EQUALS} {v}" for v in _format_column(df[c].to_numpy(), fmt.decimals.get(c, 0))]
        for c in fmt.feature_columns
    ]
    prompts = [" ".join(p) + f" {TARGET_MARKER} {fmt.target_column} {EQUALS}" for p in zip(*parts)]
    values = _format_column(df[fmt.target_column].to_numpy(), fmt.decimals.get(fmt.target_column, 0))
    return prompts, values


def rows_to_text(df: pd.DataFrame, fmt: RowFormat) -> list[str]:
    """Full row texts ``k = v ... --> target = value``."""
    prompts, values = format_rows(df, fmt)
    return [f"{p} {v}" for p, v in zip(prompts, values)]


class TabularTokenizer:
    """SentencePiece model held as bytes (saved with a run; no file needed to train or load)."""

    def __init__(self, model_bytes: bytes) -> None:
        import sentencepiece as spm

        self._bytes = bytes(model_bytes)
        self._sp = spm.SentencePieceProcessor(model_proto=self._bytes)

    @classmethod
    def train(
        cls, texts: Iterable[str], symbols: Sequence[str], *, vocab_size: int = 237, model_type: str = "bpe"
    ) -> TabularTokenizer:
        """Train in memory on `texts` (the training split only); `vocab_size` is an upper bound."""
        import sentencepiece as spm

        if vocab_size < len(symbols) + 4:
            raise ValueError(f"vocab_size must be >= {len(symbols) + 4} (symbols + specials), got {vocab_size}")
        if model_type not in ("bpe", "unigram"):
            raise ValueError(f"model_type must be 'bpe' or 'unigram', got {model_type!r}")
        buf = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts),
            model_writer=buf,
            vocab_size=vocab_size,
            hard_vocab_limit=False,
            model_type=model_type,
            split_digits=True,
            user_defined_symbols=list(symbols),
            character_coverage=1.0,
            normalization_rule_name="identity",
            unk_id=0,
            bos_id=1,
            eos_id=2,
            pad_id=-1,
            num_threads=1,
            minloglevel=2,
        )
        return cls(buf.getvalue())

    @classmethod
    def from_bytes(cls, model_bytes: bytes) -> TabularTokenizer:
        return cls(model_bytes)

    @classmethod
    def load(cls, path: str | Path) -> TabularTokenizer:
        return cls(Path(path).read_bytes())

    def to_bytes(self) -> bytes:
        return self._bytes

    def save(self, path: str | Path) -> None:
        """Write the serialized SentencePiece model (a standard `.model` file)."""
        Path(path).write_bytes(self._bytes)

    @property
    def vocab_size(self) -> int:
        return int(self._sp.get_piece_size())

    @property
    def bos_id(self) -> int:
        return int(self._sp.bos_id())

    @property
    def eos_id(self) -> int:
        return int(self._sp.eos_id())

    @property
    def pad_id(self) -> int:
        return self.eos_id  # padded positions are masked out; any valid id works

    @property
    def space_id(self) -> int:
        """Id of the bare word-boundary piece "▁" (-1 if the vocabulary has none)."""
        i = int(self._sp.piece_to_id("\u2581"))
        return i if i != self._sp.unk_id() else -1

    def encode(self, text: str) -> list[int]:
        return list(self._sp.encode(text))

    def encode_pieces(self, text: str) -> list[str]:
        return list(self._sp.encode(text, out_type=str))

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._sp.decode([int(i) for i in ids]))

    def id_to_piece(self, i: int) -> str:
        return str(self._sp.id_to_piece(int(i)))

    def pieces(self) -> list[str]:
        return [self.id_to_piece(i) for i in range(self.vocab_size)]


@dataclass(frozen=True)
class Sequences:
    """Token id sequences ``<s> prompt value </s>`` and where each one's predicted span starts."""

    ids: tuple[tuple[int, ...], ...]
    span_starts: np.ndarray  # [n] index of the first token of the target value

    def __len__(self) -> int:
        return len(self.ids)


def encode_rows(tokenizer: TabularTokenizer, prompts: Sequence[str], values: Sequence[str]) -> Sequences:
    """Encode prompt and value separately (SentencePiece's dummy prefix gives the joining space), so the
    span start is exact: ``ids = [<s>] + enc(prompt) + enc(value) + [</s>]``."""
    ids, starts = [], np.empty(len(prompts), dtype=np.int64)
    space = tokenizer.space_id
    for k, (p, v) in enumerate(zip(prompts, values)):
        head = [tokenizer.bos_id, *tokenizer.encode(p)]
        value = tokenizer.encode(v)
        # A bare "▁" before the value is fixed by the format: the span starts at the first informative piece.
        starts[k] = len(head) + (1 if value and value[0] == space else 0)
        ids.append((*head, *value, tokenizer.eos_id))
    return Sequences(tuple(ids), starts)


def pad_batch(seqs: Sequences, index: Sequence[int] | np.ndarray, pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch of the sequences `index`: input_ids, attention_mask and loss_mask [B, T] (int64),
    span_start [B]. loss_mask is 1 from span_start to the </s> inclusive."""
    import torch

    idx = np.asarray(index, dtype=np.int64)
    if idx.size == 0:
        raise ValueError("index must select at least one sequence")
    lengths = [len(seqs.ids[i]) for i in idx]
    t = max(lengths)
    input_ids = torch.full((len(idx), t), int(pad_id), dtype=torch.long)
    attention = torch.zeros((len(idx), t), dtype=torch.long)
    loss_mask = torch.zeros((len(idx), t), dtype=torch.long)
    for b, (i, n) in enumerate(zip(idx, lengths)):
        input_ids[b, :n] = torch.tensor(seqs.ids[i], dtype=torch.long)
        attention[b, :n] = 1
        loss_mask[b, int(seqs.span_starts[i]) : n] = 1
    span_start = torch.as_tensor(seqs.span_starts[idx], dtype=torch.long)
    return {
        "input_ids": input_ids,
        "attention_mask": attention,
        "loss_mask": loss_mask,
        "span_start": span_start,
    }


class TabularTextTask:
    """Per-client (per-area) token sequences, a held-out test split and padded batches.

    Args:
        df: a drive-test table (`generate_traces` or `load_berlin_v2x`), rows in time order per area.
        fmt: which columns form the text and which is predicted.
        test_fraction: last fraction of each client's rows held out for testing, in (0, 1).
        client_column: column whose values define the clients (default `area`).
        clients: client names in order; default: the column's values in order of appearance.
        vocab_size: upper bound of the tokenizer vocabulary (see module docstring).
        tokenizer: reuse a trained tokenizer (e.g. loaded with a run) instead of training one.
    """

    def __init__(
        self,
        df: pd.DataFrame,
        *,
        fmt: RowFormat | None = None,
        test_fraction: float = 0.2,
        client_column: str = "area",
        clients: Sequence[str] | None = None,
        vocab_size: int = 237,
        tokenizer: TabularTokenizer | None = None,
    ) -> None:
        self.fmt = RowFormat() if fmt is None else fmt
        if not (0.0 < test_fraction < 1.0):
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        if client_column not in df.columns:
            raise ValueError(f"client_column {client_column!r} is not a column; columns: {list(df.columns)}")
        present = list(dict.fromkeys(df[client_column].tolist()))
        self.clients = list(present if clients is None else clients)
        unknown = [c for c in self.clients if c not in present]
        if unknown:
            raise ValueError(f"clients {unknown} not found in column {client_column!r}; present: {present}")
        train_parts: dict[str, pd.DataFrame] = {}
        test_parts = []
        for c in self.clients:
            part = df[df[client_column] == c]
            n_test = int(round(test_fraction * len(part)))
            if n_test < 1 or len(part) - n_test < 1:
                raise ValueError(f"client {c!r} has {len(part)} rows: too few for test_fraction={test_fraction}")
            train_parts[c] = part.iloc[: len(part) - n_test]
            test_parts.append(part.iloc[len(part) - n_test :])
        train_text = {c: format_rows(p, self.fmt) for c, p in train_parts.items()}
        if tokenizer is None:
            corpus = [f"{p} {v}" for ps, vs in train_text.values() for p, v in zip(ps, vs)]
            tokenizer = TabularTokenizer.train(corpus, self.fmt.symbols, vocab_size=vocab_size)
        self.tokenizer = tokenizer
        self.train: dict[str, Sequences] = {c: encode_rows(tokenizer, *train_text[c]) for c in self.clients}
        import pandas as pd

        test_df = pd.concat(test_parts)
        self.test = encode_rows(tokenizer, *format_rows(test_df, self.fmt))
        self.test_clients = test_df[client_column].to_numpy()
        self.max_seq_len = max(max(len(s) for s in q.ids) for q in (*self.train.values(), self.test))

    def num_samples(self, client: str) -> int:
        return len(self._client(client))

    def _client(self, client: str) -> Sequences:
        if client not in self.train:
            raise ValueError(f"unknown client {client!r}; known: {', '.join(self.clients)}")
        return self.train[client]

    def client_batches(
        self, client: str, batch_size: int, rng: np.random.Generator, *, drop_last: bool = False
    ) -> Iterator[dict[str, torch.Tensor]]:
        """One epoch of shuffled padded batches of `client`'s training sequences."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        seqs = self._client(client)
        order = rng.permutation(len(seqs))
        stop = len(order) - (len(order) % batch_size if drop_last else 0)
        for i in range(0, stop, batch_size):
            yield pad_batch(seqs, order[i : i + batch_size], self.tokenizer.pad_id)

    def test_batches(self, batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        """The test split in order, padded batches."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        for i in range(0, len(self.test), batch_size):
            yield pad_batch(self.test, np.arange(i, min(i + batch_size, len(self.test))), self.tokenizer.pad_id)
