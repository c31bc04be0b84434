"""Alerting: notification channels, their delivery, and the contract between rules and senders."""
