"""mtlreg benchmarks (speed and memory are measured here, never in tests)."""
