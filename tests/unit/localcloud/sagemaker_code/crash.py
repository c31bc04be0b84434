"""A training script that crashes without writing output/failure."""

raise RuntimeError("boom: the optimiser diverged")
