"""Shared measurement helpers: repeated timings, percentiles, one printable row per figure."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
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
    # The ratio to the baseline's median that the figure must stay at or under, where a target is set.
    target_ratio: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def decimals(self) -> int:
        """Digits after the point: prices per million requests differ in the third and fourth."""
        return 4 if self.unit == "$" else 2

    @property
    def ratio(self) -> float | None:
        """The median over the baseline's median, when there is a baseline."""
        if self.baseline_name and self.baseline_median:
            return self.median / self.baseline_median
        return None

    @property
    def verdict(self) -> str:
        """'target <= xT: met' or '... MISSED' for a figure with a target, else ''."""
        if self.target_ratio is None or self.ratio is None:
            return ""
        return f"target <= x{self.target_ratio:g}: {'met' if self.ratio <= self.target_ratio else 'MISSED'}"

    def percentile(self, q: float) -> float:
        ordered = sorted(self.samples)
        index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
        return ordered[index]

    def format(self, width: int) -> str:
        """One table row: median, min, max and, with a baseline, the ratio to its median."""
        values = (self.median, min(self.samples), max(self.samples))
        cells = [f"{value:>8.{self.decimals}f}{self.unit:<2}" for value in values]
        text = f"{self.name:<{width}}  " + "  ".join(cells)
        if self.ratio is not None:
            text += f"  {self.baseline_name} {self.baseline_median:.2f}{self.unit}: x{self.ratio:.2f}"
        if self.verdict:
            text += f" ({self.verdict})"
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


RESULTS = Path(__file__).resolve().parents[1] / ".cache" / "bench" / "results.md"


def machine() -> str:
    """The machine the figures were measured on: CPU model, cores, memory, OS and Python."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
        memory = f", {kib / 1024**2:.0f} GiB"
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def write_markdown(rows: Sequence[Figure], path: Path = RESULTS) -> Path:
    """The table as Markdown with the date and the machine, for the README; returns where it went."""
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}.",
        "",
        "| benchmark | median | min | max | baseline (median) | ratio | target |",
        "|---|---:|---:|---:|---|---:|---|",
    ]
    for row in rows:
        baseline = ratio = ""
        if row.ratio is not None:
            baseline = f"{row.baseline_name} ({row.baseline_median:.2f} {row.unit})"
            ratio = f"x{row.ratio:.2f}"
        lines.append(
            f"| {row.name.replace('|', '/')} | {row.median:.{row.decimals}f} {row.unit} | "
            f"{min(row.samples):.{row.decimals}f} | {max(row.samples):.{row.decimals}f} | "
            f"{baseline.replace('|', '/')} | {ratio} | {row.verdict} |"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(f"\nThe table as Markdown: {path}")
    return path
