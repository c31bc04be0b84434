"""Drift detection (issue 7): speed against Evidently, scipy and a sort floor; quality; cold start.

Data: ``benchmarks/drift_data.py`` (seeded; 60 features, 50 numeric and 10 categorical with 20
levels; a 50,000-row reference; windows with a labelled drift scenario). Evidently runs in its own
venv (``benchmarks/evidently_env.py``) on the same arrays, regenerated there from the same seeds.

(a) Speed at 10k and 100k rows, every figure measured in this run, on the same window:
    - floor (baseline): one ``np.sort`` of the window: the numeric block as one (50, rows) float64
      array sorted along rows, plus ``np.sort`` of each categorical ``str`` column;
    - Cirrus ``check_drift`` with a reused calibration (what the service does once a window size has
      been calibrated; this is the figure held to the floor) and with a cold one (calibrated in the
      call). ``build_baseline`` is not timed: the reference side (sorted sample, bin edges, category
      counts) is computed once at baseline time, by design; its time is printed for information;
    - scipy per column: ``scipy.stats.ks_2samp`` per numeric column (NaN dropped) against the full
      reference column, ``scipy.stats.chi2_contingency`` per categorical column on the 2 x k table
      (reference counts precomputed; window counts in the timing);
    - Evidently's DataDriftPreset with KS (``chisquare`` for categorical columns: Evidently has no
      categorical KS), PSI and JS, each timed alone and their sum, ``Report.run`` with both datasets
      built beforehand; and Evidently's statistical functions alone (no report), to show what the
      report's rendering costs. Evidently has no precomputed reference: each run redoes it.
(b) Quality at 500, 2k and 100k rows over 5 seeds (reference and window both redrawn per seed):
    precision and recall of drifted-feature detection for Cirrus's defaults (``DriftConfig()``, cold
    calibration) and Evidently's defaults (``DataDriftPreset()``), unchanged features flagged, drifted
    features found, and a breakdown by the shift's magnitude.
(c) Cold start: the imports of the drift function (``IMPORT_PATHS``: the handler module, and the
    handler plus the engine modules it imports at its first call) in a fresh interpreter each time
    (median of ``IMPORT_RUNS``, ``time.perf_counter`` around ``importlib.import_module``, the
    interpreter's own start excluded), against ``import boto3`` in the same run, with the environment
    variables a deployed function has (the unit tests' set). ``-X importtime`` says where time goes.

Evidently's preset runs dominate the wall time (tens of seconds each at 100k rows, mostly plotly
rendering): one run per preset and size by default, ``DRIFT_BENCH_EVIDENTLY_REPEATS=3`` for more.
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks import drift_data, evidently_env
from benchmarks.common import Figure, print_table, timed_ms
from benchmarks.imports import heaviest_imports, import_seconds, lambda_environment

if TYPE_CHECKING:
    from collections.abc import Callable

SEED = drift_data.SEED
SPEED_SIZES = (10_000, 100_000)
QUALITY_SIZES = (500, 2_000, 100_000)
QUALITY_SEEDS = tuple(SEED + k for k in range(5))
REPEATS = {10_000: 5, 100_000: 7}
COLD_REPEATS = 3
SCIPY_REPEATS = 3
# Each Evidently preset run takes seconds to tens of seconds (most of it rendering plotly widgets).
EVIDENTLY_REPEATS = int(os.environ.get("DRIFT_BENCH_EVIDENTLY_REPEATS", "1"))

# The drift function's import paths: label -> modules imported in that order in one fresh interpreter.
# The handler defers the engine's modules to its first invocation, so a cold invocation pays for both.
IMPORT_PATHS: dict[str, tuple[str, ...]] = {
    "handler module": ("functions.monitoring.steps.run_drift_check",),
    "handler + deferred engine imports (first call)": (
        "functions.monitoring.steps.run_drift_check",
        "cirrus_science.drift.baseline",
        "cirrus_science.drift.config",
        "cirrus_science.drift.engine",
        "cirrus_science.drift.report",
    ),
    "cirrus_science.drift.engine alone": ("cirrus_science.drift.engine",),
    "cirrus_science.drift package alone": ("cirrus_science.drift",),
}
IMPORT_BASELINE = "boto3"
IMPORT_RUNS = 7
COLD_START_TARGET = 2.5
SPEEDUP_TARGET = 100.0
FLOOR_TARGET = 1.5


_STARTED = time.perf_counter()


def _log(message: str) -> None:
    print(f"drift bench [{time.perf_counter() - _STARTED:4.0f} s]: {message}", file=sys.stderr, flush=True)


def _k(rows: int) -> str:
    return f"{rows // 1000}k" if rows >= 1000 else str(rows)


# --- (a) speed ----------------------------------------------------------------------------------


def sort_floor(block: np.ndarray[Any, Any], categorical: list[np.ndarray[Any, Any]]) -> object:
    """The floor: one sort of the window (numeric block row-wise, each categorical column)."""
    return np.sort(block, axis=1), sort_each(categorical)


def sort_each(columns: list[np.ndarray[Any, Any]]) -> object:
    return [np.sort(column) for column in columns]


class ScipyPerColumn:
    """What a scipy user writes: ks_2samp per numeric column, chi2_contingency per categorical one."""

    def __init__(self, reference: drift_data.Table) -> None:
        import scipy.stats

        self._stats = scipy.stats
        self._numeric = {}
        for name in drift_data.NUMERIC_NAMES:
            column = np.asarray(reference[name], dtype=np.float64)
            self._numeric[name] = column[~np.isnan(column)]
        self._levels = np.asarray(drift_data.LEVELS)
        self._counts = {
            name: self._level_counts(np.asarray(reference[name])) for name in drift_data.CATEGORICAL_NAMES
        }

    def _level_counts(self, column: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        values, counts = np.unique(column, return_counts=True)
        full = np.zeros(self._levels.shape[0], dtype=np.int64)
        full[np.searchsorted(self._levels, values)] = counts
        return full

    def __call__(self, window: drift_data.Table) -> dict[str, float]:
        pvalues = {}
        for name, reference in self._numeric.items():
            column = np.asarray(window[name], dtype=np.float64)
            pvalues[name] = float(self._stats.ks_2samp(reference, column[~np.isnan(column)]).pvalue)
        for name, reference_counts in self._counts.items():
            table = np.stack([reference_counts, self._level_counts(np.asarray(window[name]))])
            table = table[:, table.sum(axis=0) > 0]
            pvalues[name] = float(self._stats.chi2_contingency(table).pvalue)
        return pvalues


@dataclass
class Engine:
    """The drift engine's entry points, or why they could not be imported."""

    build_baseline: Any = None
    check_drift: Any = None
    error: str | None = None


def load_engine() -> Engine:
    try:
        baseline = importlib.import_module("cirrus_science.drift.baseline")
        engine = importlib.import_module("cirrus_science.drift.engine")
    except Exception as error:  # the engine is written concurrently: say why, print the rest
        return Engine(error=f"{type(error).__name__}: {error}")
    return Engine(build_baseline=baseline.build_baseline, check_drift=engine.check_drift)


def _alternated(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Milliseconds per call, the calls interleaved so machine load affects them alike."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            samples[name] += timed_ms(call, 1)
    return samples


def speed(engine: Engine, evidently: dict[str, Any] | None) -> list[Figure]:
    reference = drift_data.reference(SEED)
    scipy_check = ScipyPerColumn(reference)
    baseline = None
    if engine.error is None:
        started = time.perf_counter()
        baseline = engine.build_baseline(reference, kinds=drift_data.KINDS)
        seconds = time.perf_counter() - started
        _log(
            f"build_baseline on {drift_data.REFERENCE_ROWS:,} rows took {seconds:.2f} s "
            "(once per model version; not in the timings below)"
        )
    rows_out: list[Figure] = []
    for rows in SPEED_SIZES:
        _log(f"speed at {rows:,} rows")
        window = drift_data.window(SEED, rows)
        block = drift_data.numeric_block(window)
        categorical = [np.asarray(window[name]) for name in drift_data.CATEGORICAL_NAMES]
        calls: dict[str, Callable[[], object]] = {"floor": partial(sort_floor, block, categorical)}
        cold: list[float] = []
        if baseline is not None:
            _, calibration = engine.check_drift(baseline, window)  # warm-up, and the calibration
            calls["cirrus"] = partial(engine.check_drift, baseline, window, calibration=calibration)
            if not engine.check_drift(baseline, window, calibration=calibration)[0].calibration_reused:
                raise RuntimeError("check_drift did not reuse the calibration it was given")
            cold = timed_ms(partial(engine.check_drift, baseline, window), COLD_REPEATS)
        samples = _alternated(calls, REPEATS[rows])
        samples["scipy"] = timed_ms(partial(scipy_check, window), SCIPY_REPEATS)
        numeric_ms = statistics.median(timed_ms(partial(np.sort, block, axis=1), 5))
        text_ms = statistics.median(timed_ms(partial(sort_each, categorical), 5))
        _log(
            f"floor @{rows:,} rows, its parts: numeric block {numeric_ms:.1f} ms, "
            f"the 10 str columns {text_ms:.1f} ms"
        )

        tag = f"@{_k(rows)}"
        floor = Figure(f"drift speed{tag}: floor, np.sort of the window (baseline)", "ms", samples["floor"])
        rows_out.append(floor)
        reference_name, reference_median = f"floor{tag}", floor.median
        if "cirrus" in samples:
            cirrus = Figure(
                f"drift speed{tag}: Cirrus check_drift, reused calibration",
                "ms",
                samples["cirrus"],
                f"floor{tag}",
                floor.median,
            )
            rows_out.append(cirrus)
            rows_out.append(
                Figure(
                    f"drift speed{tag}: Cirrus check_drift, cold calibration",
                    "ms",
                    cold,
                    f"floor{tag}",
                    floor.median,
                )
            )
            reference_name, reference_median = f"Cirrus{tag}", cirrus.median
        rows_out.append(
            Figure(
                f"drift speed{tag}: scipy per column",
                "ms",
                samples["scipy"],
                reference_name,
                reference_median,
            )
        )
        if evidently is not None:
            rows_out += _evidently_speed_rows(
                evidently["speed"][str(rows)], tag, reference_name, reference_median
            )
        _log(f"speed at {rows:,} rows done")
    return rows_out


def _evidently_speed_rows(
    figures: dict[str, list[float]], tag: str, reference_name: str, reference_median: float
) -> list[Figure]:
    labels = {"ks": "KS (cat: chisquare)", "psi": "PSI", "jensenshannon": "JS"}
    out = []
    for key, label in labels.items():
        ms = [s * 1000 for s in figures[key]]
        out.append(
            Figure(f"drift speed{tag}: Evidently {label} preset", "ms", ms, reference_name, reference_median)
        )
    for suffix, what in (("", "3 presets together"), (":stattests", "3 presets' stattests only, no report")):
        parts = [figures[key + suffix] for key in labels]
        summed = [sum(run) * 1000 for run in zip(*parts, strict=True)]
        out.append(
            Figure(f"drift speed{tag}: Evidently {what}", "ms", summed, reference_name, reference_median)
        )
    return out


# --- (b) quality --------------------------------------------------------------------------------


def cirrus_flags(engine: Engine) -> dict[tuple[int, int], set[str]]:
    """Cirrus's defaults: the flagged features per (rows, seed)."""
    flags: dict[tuple[int, int], set[str]] = {}
    for seed in QUALITY_SEEDS:
        baseline = engine.build_baseline(drift_data.reference(seed), kinds=drift_data.KINDS)
        for rows in QUALITY_SIZES:
            result, _ = engine.check_drift(baseline, drift_data.window(seed, rows))
            flags[(rows, seed)] = set(result.drifted_features)
    return flags


def quality(cirrus: dict[tuple[int, int], set[str]] | None, evidently: dict[str, Any] | None) -> list[Figure]:
    theirs: dict[tuple[int, int], set[str]] = {}
    if evidently is not None:
        theirs = {(int(q["rows"]), int(q["seed"])): set(q["flagged"]) for q in evidently["quality"]}
    out: list[Figure] = []
    for rows in QUALITY_SIZES:
        tag = f"@{_k(rows)} x{len(QUALITY_SEEDS)} seeds"
        per_side: dict[str, list[dict[str, Any]]] = {}
        for side, flags in (("Evidently defaults", theirs), ("Cirrus defaults", cirrus or {})):
            if flags:
                per_side[side] = [_scored(flags[(rows, seed)]) for seed in QUALITY_SEEDS]
        for measure, label in (
            ("precision", "precision"),
            ("recall", "recall"),
            ("true_positive", "drifted features found"),
            ("false_positive", "unchanged features flagged"),
        ):
            base: Figure | None = None
            for side, scores in per_side.items():
                name = f"drift quality{tag}: {side}, {label}"
                values = [float(s[measure]) for s in scores]
                if base is None:
                    base = Figure(name + (" (baseline)" if len(per_side) > 1 else ""), "", values)
                    out.append(base)
                else:
                    out.append(Figure(name, "", values, "Evidently", base.median))
        for side, scores in per_side.items():
            found = {m: sum(s["by_magnitude"][m] for s in scores) for m in drift_data.MAGNITUDES}
            total = {m: sum(1 for d in drift_data.SCENARIO.values() if d.magnitude == m) for m in found}
            text = ", ".join(f"{m} {found[m]}/{total[m] * len(scores)}" for m in drift_data.MAGNITUDES)
            _log(f"quality {tag}: {side} found by magnitude: {text}")
    return out


def _scored(flagged: set[str]) -> dict[str, Any]:
    return {**drift_data.score(flagged), "by_magnitude": drift_data.found_by_magnitude(flagged)}


# --- (c) cold start -----------------------------------------------------------------------------


def cold_start() -> list[Figure]:
    _log(f"cold start: {IMPORT_RUNS} fresh interpreters per import path")
    env = lambda_environment()
    paths = {f"import {IMPORT_BASELINE} (baseline)": (IMPORT_BASELINE,), **IMPORT_PATHS}
    samples: dict[str, list[float]] = {label: [] for label in paths}
    failed: dict[str, str] = {}
    scipy_stats: dict[str, bool] = {}
    for _ in range(IMPORT_RUNS):  # alternated, so machine load affects every path alike
        for label, modules in paths.items():
            if label in failed:
                continue
            outcome = import_seconds(modules, env)
            if isinstance(outcome, str):
                failed[label] = outcome
                continue
            samples[label].append(outcome.seconds * 1000)
            scipy_stats[label] = "scipy.stats" in outcome.present
    for label, why in failed.items():
        _log(f"cold start: cannot import {label} ({', '.join(paths[label])}): {why}")
    base_label = next(iter(paths))
    if base_label in failed:
        return []
    base = Figure(f"drift cold start: {base_label}", "ms", samples[base_label])
    out = [base]
    for label, modules in IMPORT_PATHS.items():
        if label in failed:
            continue
        out.append(Figure(f"drift cold start: {label}", "ms", samples[label], IMPORT_BASELINE, base.median))
        _log(
            f"cold start: {label}: x{out[-1].median / base.median:.2f} of import {IMPORT_BASELINE} "
            f"(target <= {COLD_START_TARGET}); "
            f"scipy.stats imported: {'yes' if scipy_stats[label] else 'no'}; {heaviest_imports(modules, env)}"
        )
    return out


# --- all together -------------------------------------------------------------------------------


def evidently_results() -> dict[str, Any] | None:
    """Evidently's timings and verdicts from its own venv, or None (with the reason on stderr)."""
    try:
        env = evidently_env.ensure()
        _log(f"Evidently {env.version}: running its presets (tens of seconds each at 100k rows)")
        request = {
            "seed": SEED,
            "speed_sizes": list(SPEED_SIZES),
            "repeats": {str(rows): EVIDENTLY_REPEATS for rows in SPEED_SIZES},
            "quality_sizes": list(QUALITY_SIZES),
            "quality_seeds": list(QUALITY_SEEDS),
            "check_default_preset": True,
        }
        answer = evidently_env.run_runner(env, request)
    except (
        evidently_env.EvidentlyUnavailable,
        OSError,
        subprocess.TimeoutExpired,
        json.JSONDecodeError,
    ) as error:
        _log(f"EVIDENTLY UNAVAILABLE, its figures are left out: {error}")
        return None
    ours = {"reference": drift_data.fingerprint(drift_data.reference(SEED))}
    ours.update({str(rows): drift_data.fingerprint(drift_data.window(SEED, rows)) for rows in SPEED_SIZES})
    if answer["fingerprints"] != ours:
        _log(f"EVIDENTLY LEFT OUT: its venv generated other data ({answer['fingerprints']} vs {ours})")
        return None
    for check, outcome in answer["agreement"].items():
        if not outcome["same"]:
            _log(f"warning: Evidently's preset and its stattest path disagree on {check}: {outcome}")
    return answer


def _summary(rows: list[Figure], engine: Engine, evidently: dict[str, Any] | None) -> None:
    by_name = {row.name: row for row in rows}
    if evidently is not None:
        _log(
            f"Evidently {evidently['evidently_version']} via {evidently['api']}; presets (num, cat): "
            + "; ".join(f"{k}: {v['num_method']}, {v['cat_method']}" for k, v in evidently["presets"].items())
            + f"; {EVIDENTLY_REPEATS} run(s) per preset; defaults' methods: "
            + ", ".join(sorted({m for q in evidently["quality"] for m in q["methods"]}))
        )
    if engine.error is not None:
        _log(f"CIRRUS ENGINE UNAVAILABLE, its figures are left out: {engine.error}")
        return
    for rows_count in SPEED_SIZES:
        tag = f"@{_k(rows_count)}"
        cirrus = by_name[f"drift speed{tag}: Cirrus check_drift, reused calibration"]
        floor = by_name[f"drift speed{tag}: floor, np.sort of the window (baseline)"]
        # The issue sets both targets at 100k rows; at smaller sizes the ratios are shown, not judged.
        judged = rows_count == max(SPEED_SIZES)
        line = f"{tag}: Cirrus (reused calibration) / floor x{cirrus.median / floor.median:.2f}" + (
            f" (target <= {FLOOR_TARGET})" if judged else " (no target at this size)"
        )
        together = by_name.get(f"drift speed{tag}: Evidently 3 presets together")
        if together is not None:
            speedup = together.median / cirrus.median
            line += f"; Evidently 3 presets / Cirrus x{speedup:.0f}" + (
                f" (target >= {SPEEDUP_TARGET:.0f})" if judged else ""
            )
        _log(line)


def run() -> list[Figure]:
    global _STARTED  # the log's clock starts with this benchmark, not with the import
    started = _STARTED = time.perf_counter()
    engine = load_engine()
    if engine.error is not None:
        _log(f"CIRRUS ENGINE UNAVAILABLE: {engine.error}")
    evidently = evidently_results()
    rows = speed(engine, evidently)
    _log("quality: Cirrus defaults over seeds and sizes")
    cirrus = cirrus_flags(engine) if engine.error is None else None
    rows += quality(cirrus, evidently)
    rows += cold_start()
    _summary(rows, engine, evidently)
    _log(f"took {time.perf_counter() - started:.0f} s")
    return rows


def main() -> None:
    rows = run()
    print_table(rows)


if __name__ == "__main__":
    main()
