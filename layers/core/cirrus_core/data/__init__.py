"""Data: datasets, transformations and the feature store (issue 10); pure domain code."""
