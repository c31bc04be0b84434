"""The model registry: versions, approvals, per-environment aliases, promotion history, lineage."""
