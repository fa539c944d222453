"""Real federated fine-tuning with torch + peft; knows nothing about the network."""
