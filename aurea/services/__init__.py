"""Use cases. Each public function owns its transaction: it queries, calls the pure
scoring, and commits (or only reads). Views call exactly one of them."""
