"""Examples that come with Cirrus: the demo dataset generator and a custom training script."""
