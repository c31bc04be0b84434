"""Model serving: deployments with safe rollout, inference, batch transform and edge packages.

docs/serving.md is the contract between these modules, the state machines and the API.
"""
