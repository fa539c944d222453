"""Per-round resource allocation: module switching, power and bandwidth (numpy, scipy, cvxpy)."""
