"""Benchmark suites: one module per suite, following the contract in ``benchmarks/_api.py``."""
