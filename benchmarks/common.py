"""Shared measurement helpers: repeated timings, percentiles, one printable row per figure."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


@dataclass(frozen=True)
class Figure:
    """One measured figure, with the baseline it is compared with."""

    name: str
    unit: str
    samples: list[float]
    baseline_name: str | None = None
    baseline_median: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.samples)
        index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
        return ordered[index]

    def format(self, width: int) -> str:
        """One table row: median, min, max and, with a baseline, the ratio to its median."""
        values = (self.median, min(self.samples), max(self.samples))
        cells = [f"{value:>8.2f}{self.unit:<2}" for value in values]
        text = f"{self.name:<{width}}  " + "  ".join(cells)
        if self.baseline_name and self.baseline_median:
            ratio = self.median / self.baseline_median
            text += f"  {self.baseline_name} {self.baseline_median:.2f}{self.unit}: x{ratio:.2f}"
        return text


def timed_ms(call: Callable[[], object], repeats: int) -> list[float]:
    """Wall-clock milliseconds of `repeats` calls."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def print_table(rows: Sequence[Figure]) -> None:
    """Every figure in one table: median, min, max, and the ratio to its baseline."""
    width = max(len(row.name) for row in rows)
    print(f"\n{'benchmark':<{width}}  {'median':>10}  {'min':>10}  {'max':>10}  baseline / ratio")
    for row in rows:
        print(row.format(width))
