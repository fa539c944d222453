"""Radio physics as pure, vectorized functions (numpy + scipy only)."""
