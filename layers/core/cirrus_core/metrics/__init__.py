"""Per-model serving metrics: invocations, latency, errors, accuracy from ground truth, resources."""
