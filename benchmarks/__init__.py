"""Benchmarks: ``python -m benchmarks [--quick]``; each prints ratios to a bare reference."""
