"""Model families by `config.model_type`, for what the weights alone do not say (importable without torch)."""

# Bidirectional attention: BERT-style encoders (DeBERTa's attention modules carry no `is_causal` flag).
ENCODERS = ("bert", "roberta", "distilbert", "albert", "electra", "deberta", "deberta-v2", "xlm-roberta",
            "camembert", "mpnet", "xlm", "ernie", "megatron-bert", "funnel", "longformer", "big_bird")  # fmt: skip

# Gated MLPs (three h×i matrices per layer instead of two).
GATED_MLP = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "olmo", "granite")
