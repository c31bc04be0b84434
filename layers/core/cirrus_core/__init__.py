"""Code shared by every Cirrus function: domain models and services, AWS adapters, API plumbing."""
