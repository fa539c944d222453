"""fedwireless: federated fine-tuning of language models over simulated wireless networks."""

__version__ = "0.1.0"
