"""The simulator's policy names, for the CLI's choices: importing them builds nothing."""

POLICIES = (
    "oracle",
    "aurea",
    "aurea-unconfigured",
    "aurea-weighted",
    "aurea-weighted-optimize",
    "seed",
    "latency",
    "random",
)
