"""Evidently's side of the drift benchmark; runs in its own venv (see ``benchmarks/evidently_env.py``).

Usage: ``<evidently-venv>/bin/python benchmarks/evidently_runner.py '<json request>'``; prints one JSON
line on stdout. The data comes from ``drift_data.py`` (imported from beside this file, numpy only) with
the same seeds as the Cirrus side, so both see identical arrays.

API: Evidently >= 0.7's ``from evidently import Report, Dataset, DataDefinition`` and
``from evidently.presets import DataDriftPreset``; columns are typed explicitly (50 numerical, 10
categorical) so Evidently's type inference plays no part.

Speed: ``Report([DataDriftPreset(num_method=..., cat_method=...)], include_tests=True).run(...)``
timed per preset, with both ``Dataset`` objects built beforehand (outside the timing). KS has no
categorical implementation in Evidently, so the KS preset uses ``chisquare`` for the categorical
columns; PSI and Jensen-Shannon run on both kinds. A preset's run also renders its plotly widgets:
that is part of what ``Report.run`` costs a user, and Evidently offers no switch to skip it. The
``stattests`` figures time Evidently's statistical functions alone (the registry's ``StatTest``
objects applied per column, as ``get_one_column_drift`` applies them), to show how much is rendering.

Quality: Evidently's defaults (``DataDriftPreset()``: no method, no threshold). Evidently picks per
column from the reference's size: above 1,000 reference rows, Wasserstein distance (normed, threshold
0.1) for numeric columns with more than 5 distinct values, Jensen-Shannon (0.1) for categorical ones.
The verdicts come from the same per-column stattest path the preset uses (no rendering, so that five
seeds at three sizes fit in the time budget); ``agreement`` checks on one window per preset that the
path and the full preset's per-column tests flag the same columns.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import warnings
from typing import Any

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("ITERATIVE_DO_NOT_TRACK", "1")
warnings.filterwarnings("ignore")

import drift_data  # noqa: E402  (beside this file: numpy only)
import evidently  # noqa: E402
import pandas as pd  # noqa: E402
from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently.legacy.calculations.stattests.registry import get_stattest  # noqa: E402
from evidently.legacy.core import ColumnType  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402

PRESETS: dict[str, dict[str, str]] = {
    "ks": {"num_method": "ks", "cat_method": "chisquare"},
    "psi": {"num_method": "psi", "cat_method": "psi"},
    "jensenshannon": {"num_method": "jensenshannon", "cat_method": "jensenshannon"},
}
DEFINITION = DataDefinition(
    numerical_columns=list(drift_data.NUMERIC_NAMES), categorical_columns=list(drift_data.CATEGORICAL_NAMES)
)


def _log(message: str) -> None:
    print(f"drift bench (evidently): {message}", file=sys.stderr, flush=True)


def _dataset(frame: pd.DataFrame) -> Dataset:
    return Dataset.from_pandas(frame, data_definition=DEFINITION)


def _run_preset(reference: Dataset, current: Dataset, methods: dict[str, Any]) -> Any:
    """The timed call: the preset's report run (its snapshot holds the results)."""
    return Report([DataDriftPreset(**methods)], include_tests=True).run(
        current_data=current, reference_data=reference
    )


def _flags(snapshot: Any) -> list[str]:
    """The columns whose per-column drift test failed in a preset's snapshot."""
    flagged = []
    for test in snapshot.dict()["tests"]:
        params = test["metric_config"]["params"]
        if test["id"] == "drift" and test["status"] == "FAIL":
            flagged.append(params["column"])
    return sorted(flagged)


def _stattest_verdicts(
    reference: pd.DataFrame, current: pd.DataFrame, methods: dict[str, str] | None
) -> tuple[list[str], dict[str, str]]:
    """Evidently's per-column verdicts without the report: ``(flagged columns, method used per column)``."""
    flagged, used = [], {}
    for column in drift_data.FEATURES:
        numeric = column in drift_data.NUMERIC_NAMES
        kind = ColumnType.Numerical if numeric else ColumnType.Categorical
        ref, cur = reference[column], current[column]
        if numeric:
            ref = ref.replace([float("inf"), float("-inf")], float("nan")).dropna()
            cur = cur.replace([float("inf"), float("-inf")], float("nan")).dropna()
        method = None if methods is None else methods["num_method" if numeric else "cat_method"]
        stattest = get_stattest(ref, cur, kind, method)
        result = stattest(ref, cur, kind, None)
        used[column] = stattest.name
        if result.drifted:
            flagged.append(column)
    return sorted(flagged), used


def _timed(call: Any, repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def _time_preset(
    reference: Dataset,
    reference_frame: pd.DataFrame,
    frame: pd.DataFrame,
    methods: dict[str, str],
    repeats: int,
) -> tuple[list[float], list[float], dict[str, Any]]:
    """Seconds of the preset's runs, of its stattests alone, and whether both flag the same columns."""
    current = _dataset(frame)
    snapshots: list[Any] = []

    def run() -> None:
        snapshots[:] = [_run_preset(reference, current, methods)]

    preset_s = _timed(run, repeats)
    stattests_s = _timed(lambda: _stattest_verdicts(reference_frame, frame, methods), repeats)
    flagged, core = _flags(snapshots[0]), _stattest_verdicts(reference_frame, frame, methods)[0]
    return preset_s, stattests_s, {"preset": flagged, "stattests": core, "same": flagged == core}


def main(request: dict[str, Any]) -> dict[str, Any]:
    seed = int(request["seed"])
    reference_table = drift_data.reference(seed)
    reference_frame = pd.DataFrame(reference_table)
    reference = _dataset(reference_frame)
    answer: dict[str, Any] = {
        "evidently_version": evidently.__version__,
        "api": "evidently.Report([evidently.presets.DataDriftPreset(num_method=..., cat_method=...)])"
        ".run(current_data=Dataset, reference_data=Dataset)",
        "presets": PRESETS,
        "speed": {},
        "agreement": {},
        "quality": [],
        "fingerprints": {"reference": drift_data.fingerprint(reference_table)},
    }

    # Warm-up (imports, caches), not timed: a small preset run over two columns.
    warm = _dataset(pd.DataFrame(drift_data.window(seed, 500)))
    _run_preset(reference, warm, {**PRESETS["psi"], "columns": ["num_00", "cat_0"]})
    for rows in request["speed_sizes"]:
        table = drift_data.window(seed, int(rows))
        answer["fingerprints"][str(rows)] = drift_data.fingerprint(table)
        frame = pd.DataFrame(table)
        figures: dict[str, Any] = {}
        repeats = int(request["repeats"][str(rows)])
        for name, methods in PRESETS.items():
            _log(f"{name} preset at {rows:,} rows x {repeats}")
            figures[name], figures[f"{name}:stattests"], agreement = _time_preset(
                reference, reference_frame, frame, methods, repeats
            )
            answer["agreement"][f"{name}@{rows}"] = agreement
        answer["speed"][str(rows)] = figures

    for rows in request["quality_sizes"]:
        _log(f"defaults (quality) at {rows:,} rows over {len(request['quality_seeds'])} seeds")
        for quality_seed in request["quality_seeds"]:
            frame_ref = (
                reference_frame if quality_seed == seed else pd.DataFrame(drift_data.reference(quality_seed))
            )
            frame = pd.DataFrame(drift_data.window(quality_seed, int(rows)))
            flagged, used = _stattest_verdicts(frame_ref, frame, None)
            answer["quality"].append(
                {
                    "rows": rows,
                    "seed": quality_seed,
                    "flagged": flagged,
                    "methods": sorted(set(used.values())),
                }
            )
    if request.get("check_default_preset"):
        frame = pd.DataFrame(drift_data.window(seed, 2_000))
        preset = _flags(_run_preset(reference, _dataset(frame), {}))
        core, _ = _stattest_verdicts(reference_frame, frame, None)
        answer["agreement"]["defaults@2000"] = {"preset": preset, "stattests": core, "same": preset == core}
    answer["median_s"] = {
        rows: {name: statistics.median(samples) for name, samples in figures.items()}
        for rows, figures in answer["speed"].items()
    }
    return answer


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
