"""Verifiable elections on the threshold core: manifest, ballots, board, tally, record, verifier."""
