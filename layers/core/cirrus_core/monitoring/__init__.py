"""Monitoring: drift baselines, drift configs, alert rules and drift monitor runs (docs/monitoring.md)."""
