"""The settings, for a checkout's scripts and tests: they live in :mod:`aurea.settings`."""

from aurea.settings import (  # noqa: F401
    BASE_DIR,
    INSTANCE_DIR,
    MIGRATIONS_DIR,
    SCENARIOS_DIR,
    Config,
    TestingConfig,
    normalize_database_url,
)
