"""Builders of small random-weight FLUX-shaped models, used by tests, benchmarks and ``--selftest``."""
