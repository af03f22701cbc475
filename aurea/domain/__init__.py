"""Pure decision code: objectives, estimators, change detection, cooldown rules.

Nothing here imports Flask, SQLAlchemy or the rest of Aurea's storage and services: every
function takes plain values and is unit-tested with hand-computed cases.
"""
