"""Storage: the SQLAlchemy models, engine and session setup, and the per-worker read cache."""
