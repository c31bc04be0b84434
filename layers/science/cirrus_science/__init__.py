"""Cirrus science layer: numpy and scipy, and the drift engine, only for the functions that need them."""
