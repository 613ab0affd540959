"""Benchmarks: ``python -m benchmarks [--quick] [--scaling]``; one table of results at the end."""
