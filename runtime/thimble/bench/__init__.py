"""Benchmarks: `thimble bench kernels|numerics|...`. Not tests: they measure,
compare against a baseline from the same run, and write JSON."""
