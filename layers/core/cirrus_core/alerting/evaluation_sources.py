"""Adapters the alert evaluator reads conditions through: drift runs, Lambda errors, dead-letter queues."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cirrus_core.alerting.evaluation import DriftVerdict
from cirrus_core.monitoring.models import FINAL_RUN_STATUSES, DriftRunStatus

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from cirrus_core.monitoring.store import MonitoringStore

_RUNS_READ = 20
_METRIC_QUERIES = 500


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
        names: set[str] = set()
        params: dict[str, Any] = {"Namespace": "AWS/Lambda", "MetricName": "Errors"}
        while True:
            response = self._client.list_metrics(**params)
            for metric in response.get("Metrics", []):
                dimensions = metric.get("Dimensions", [])
                if len(dimensions) == 1 and dimensions[0]["Name"] == "FunctionName":
                    name = dimensions[0]["Value"]
                    if name.startswith(self._prefix):
                        names.add(name)
            token = response.get("NextToken")
            if not token:
                return sorted(names)
            params["NextToken"] = token

    def errors(self, start: datetime, end: datetime) -> dict[str, float]:
        functions = self.functions()
        period = max(60, int((end - start).total_seconds()) // 60 * 60)
        totals = dict.fromkeys(functions, 0.0)
        for offset in range(0, len(functions), _METRIC_QUERIES):
            chunk = functions[offset : offset + _METRIC_QUERIES]
            queries = [
                {
                    "Id": f"f{index}",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/Lambda",
                            "MetricName": "Errors",
                            "Dimensions": [{"Name": "FunctionName", "Value": name}],
                        },
                        "Period": period,
                        "Stat": "Sum",
                    },
                    "ReturnData": True,
                }
                for index, name in enumerate(chunk)
            ]
            params: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
            while True:
                response = self._client.get_metric_data(**params)
                for result in response.get("MetricDataResults", []):
                    name = chunk[int(result["Id"][1:])]
                    totals[name] += float(sum(result.get("Values", [])))
                token = response.get("NextToken")
                if not token:
                    break
                params["NextToken"] = token
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
