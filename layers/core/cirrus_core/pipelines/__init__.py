"""The pipeline orchestrator: definitions, their ASL, runs, schedules and triggers (docs/pipelines.md)."""
