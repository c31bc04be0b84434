"""Frames: transformations, feature ingestion and point-in-time training sets (the frames layer)."""
