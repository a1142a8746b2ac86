"""The `quorum` command line: the top of the layer stack, it may import every package."""
