"""Helpers shared by the test suites: moto resources built from template.yaml, sample events."""
