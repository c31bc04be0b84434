"""The step cache: a step whose inputs and code are unchanged reuses an earlier run's output.

A step's key is a SHA-256 over the canonical JSON of what decides its result: its type and
parameters, the run parameters that affect results, the identity of the code it runs, the container
image, the dataset version (for steps reading the data source) and its upstream steps' keys. So a
change anywhere upstream changes every key below it. Entries live in the pipelines table as
`CACHE#<key>` / `CACHE` and are written when a run ends, for each job that succeeded in it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from mypy_boto3_dynamodb import DynamoDBClient

CACHE_SORT_KEY = "CACHE"
# Run parameters that judge, name or schedule a run's result without changing it.
NON_RESULT_PARAMETERS = frozenset(
    {"target_accuracy", "metric_threshold", "use_cache", "approval_timeout_seconds", "model_name"}
)
# Run parameters only training (and evaluating) a model reads.
TRAINING_PARAMETERS = frozenset({"model_type", "hyperparameters"})
KEY_VERSION = 1


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace: equal values, equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def result_parameters(run_parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The run parameters that can change a step's result."""
    return {name: value for name, value in run_parameters.items() if name not in NON_RESULT_PARAMETERS}


def cache_key(
    *,
    step_type: str,
    step_parameters: Mapping[str, Any],
    run_parameters: Mapping[str, Any],
    script: str,
    image_uri: str,
    dataset_version: str | None,
    upstream: Mapping[str, str],
) -> str:
    """The step's cache key (hex SHA-256). `run_parameters` are filtered here; `upstream` maps
    each dependency's step id to its key."""
    document = {
        "v": KEY_VERSION,
        "type": step_type,
        "parameters": dict(step_parameters),
        "run_parameters": result_parameters(run_parameters),
        "script": script,
        "image": image_uri,
        "dataset_version": dataset_version,
        "upstream": dict(upstream),
    }
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


def cache_pk(key: str) -> str:
    return f"CACHE#{key}"


class StepCache:
    """Cache entries in the pipelines table."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    def lookup(self, key: str) -> dict[str, Any] | None:
        """The cached output of a key, or None."""
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": cache_pk(key)}, "sk": {"S": CACHE_SORT_KEY}},
        ).get("Item")
        if not item or "output" not in item:
            return None
        try:
            output = json.loads(item["output"].get("S", ""))
        except ValueError:
            return None
        return output if isinstance(output, dict) else None

    def store(
        self, key: str, output: Mapping[str, Any], *, run_id: str, pipeline_id: str, step_id: str
    ) -> None:
        """Record a step's output under its key (a later run with the same key replaces it)."""
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": cache_pk(key)},
                "sk": {"S": CACHE_SORT_KEY},
                "output": {"S": canonical_json(dict(output))},
                "run_id": {"S": run_id},
                "pipeline_id": {"S": pipeline_id},
                "step_id": {"S": step_id},
                "created_at": {"S": self._clock().isoformat()},
            },
        )
