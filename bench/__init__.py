"""`make bench`: speed of the real service beside a trivial yardstick, in one run."""
