"""Maintenance scripts; run them from the repository root with ``python -m scripts.NAME``."""
