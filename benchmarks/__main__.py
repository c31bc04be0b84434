"""`make bench`: run every benchmark and print one table."""

from __future__ import annotations

from benchmarks import drift, local_cloud, point_in_time
from benchmarks.common import print_table


def main() -> None:
    print_table([*local_cloud.run(), *point_in_time.run(), *drift.run()])


if __name__ == "__main__":
    main()
