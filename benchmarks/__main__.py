"""`make bench`: run every benchmark and print one table (and write it as Markdown for the README).

The benchmarks run one after another in this process (two of them start a local cloud of their own,
and only one runs per process); the exit status is 1 when a concurrency run broke its checks or
the connector's extraction went over its memory limit.
"""

from __future__ import annotations

import sys

from benchmarks import (
    cold_start,
    concurrency,
    deployment_size,
    drift,
    extraction,
    handler_cost,
    local_cloud,
    point_in_time,
    registry_mlflow,
)
from benchmarks.common import Figure, print_table, write_markdown


def _deployment_size() -> list[Figure]:
    try:
        return deployment_size.run()
    except deployment_size.PipUnavailable as error:
        print(f"bench: DEPLOYMENT SIZE UNAVAILABLE, its figures are left out: {error}", file=sys.stderr)
        return []


def main() -> None:
    rows = [
        *registry_mlflow.run(),
        *handler_cost.run(),
        *cold_start.run(),
        *_deployment_size(),
        *concurrency.run(),
        *local_cloud.run(),
        *point_in_time.run(),
        *drift.run(),
        *extraction.run(),
    ]
    print_table(rows)
    write_markdown(rows)
    if concurrency.failed(rows):
        print("\nbench: a concurrency run broke the version sequence or gave up", file=sys.stderr)
        sys.exit(1)
    if extraction.failed(rows):
        print("\nbench: the connector's extraction went over its memory limit", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
