"""Tiny language models on cellular drive-test data (Becking et al., arXiv 2504.01947).

- `traces`: synthetic drive-test table (five areas, 3GPP path loss, shadowing, fading, link adaptation).
- `berlin`: loader for a real Berlin V2X cellular table (CSV; parquet with pyarrow).
- `tokenize`: rows as text, in-memory SentencePiece tokenizer, per-area clients and padded batches.
- `tlm`: llama2.c-style TLM sizes 0/1/2 as `transformers` Llama models.
- `metrics`: next-token accuracy / perplexity on the predicted span (masked) or all tokens (paper).
- `benchmark`: centralised training of a TLM on generated traces (step time, accuracy reached).

Modules import torch/transformers/sentencepiece only inside the functions that need them.
"""
