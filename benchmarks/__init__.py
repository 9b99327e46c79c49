"""Throughput and compile-time benchmarks; each prints JSON (not tests)."""
