"""`make bench`: run every benchmark and print one table."""

from __future__ import annotations

from benchmarks import drift, local_cloud, point_in_time


def main() -> None:
    rows = [*local_cloud.run(), *point_in_time.run(), *drift.run()]
    width = max(len(row.name) for row in rows)
    print(f"\n{'benchmark':<{width}}  {'median':>10}  {'min':>10}  {'max':>10}  baseline / ratio")
    for row in rows:
        print(row.format(width))


if __name__ == "__main__":
    main()
