"""Adapters the alert evaluator reads conditions through: drift runs, Lambda errors, dead-letter queues."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cirrus_core.alerting.evaluation import DriftVerdict
from cirrus_core.cloudwatch import metric_data, metric_dimensions, metric_stat
from cirrus_core.monitoring.models import FINAL_RUN_STATUSES, DriftRunStatus

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from cirrus_core.monitoring.store import MonitoringStore

_RUNS_READ = 20


class DriftRunsReader:
    """The newest finished drift monitor run of a model's environment, from the monitoring table."""

    def __init__(self, store: MonitoringStore) -> None:
        self._store = store

    def latest_finished(self, model_id: str, environment: str, since: datetime) -> DriftVerdict | None:
        runs, _ = self._store.runs(model_id, limit=_RUNS_READ, environment=environment)
        for run in runs:  # newest first
            if run.started_at < since:
                return None
            if run.status not in FINAL_RUN_STATUSES:
                continue
            verdict = run.status is DriftRunStatus.SUCCEEDED and run.drift_share is not None
            return DriftVerdict(
                run_id=run.run_id,
                drift_share=run.drift_share if verdict else None,
                drifted_features=tuple(run.drifted_features),
                version=run.version,
                window_start=run.window_start,
                window_end=run.window_end,
            )
        return None


class LambdaErrors:
    """CloudWatch `AWS/Lambda` `Errors` (Sum) of the functions whose names start with the stack's prefix."""

    def __init__(self, client: Any, function_prefix: str) -> None:
        """`client`: a boto3 `cloudwatch` client."""
        self._client = client
        self._prefix = function_prefix

    def functions(self) -> list[str]:
        names = {
            dimensions["FunctionName"]
            for dimensions in metric_dimensions(self._client, "AWS/Lambda", "Errors")
            if list(dimensions) == ["FunctionName"] and dimensions["FunctionName"].startswith(self._prefix)
        }
        return sorted(names)

    def errors(self, start: datetime, end: datetime) -> dict[str, float]:
        functions = self.functions()
        period = max(60, int((end - start).total_seconds()) // 60 * 60)
        totals = dict.fromkeys(functions, 0.0)

        def stat_of(name: str) -> dict[str, Any]:
            return metric_stat("AWS/Lambda", "Errors", {"FunctionName": name}, period, "Sum")

        for name, result in metric_data(self._client, functions, stat_of, start, end):
            totals[name] += float(sum(result.get("Values", [])))
        return totals


class DeadLetterQueues:
    """Messages visible in the stack's dead-letter queues: SQS's `ApproximateNumberOfMessages` attribute
    (what CloudWatch reports as `ApproximateNumberOfMessagesVisible`)."""

    def __init__(self, client: Any, queue_urls: Sequence[str]) -> None:
        """`client`: a boto3 `sqs` client."""
        self._client = client
        self._urls = [url for url in queue_urls if url]

    def depths(self) -> dict[str, int]:
        depths: dict[str, int] = {}
        for url in self._urls:
            attributes = self._client.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            depths[url.rstrip("/").rsplit("/", 1)[-1]] = int(attributes["ApproximateNumberOfMessages"])
        return depths
