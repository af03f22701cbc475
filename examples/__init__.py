"""Examples of using Aurea; run them from the repository root with ``python -m``."""
