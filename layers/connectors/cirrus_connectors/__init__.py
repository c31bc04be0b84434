"""Connectors: extract from databases, object stores and streams into Parquet (the connectors layer)."""
