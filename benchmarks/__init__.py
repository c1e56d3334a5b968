"""Benchmarks of the repository (run from the repository root; not installed)."""
