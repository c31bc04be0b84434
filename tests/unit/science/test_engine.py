"""The drift check: statistics on the engine path, thresholds and their sources, verdicts, data quality."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest
import scipy.stats
from cirrus_science.drift.baseline import Baseline, FeatureSpec, build_baseline, columns_from_records
from cirrus_science.drift.calibration import Calibration
from cirrus_science.drift.config import DriftConfig, DriftConfigError
from cirrus_science.drift.engine import (
    InsufficientData,
    benjamini_hochberg,
    bin_labels,
    category_counts,
    check_drift,
    ks_statistic_sorted,
)
from cirrus_science.drift.reference import CategoricalReference, NumericReference
from cirrus_science.drift.results import DriftResult, FeatureResult

LEVELS = np.array(["alpha", "beta", "gamma", "delta", "epsilon"])
LEVEL_SHARES = np.array([0.4, 0.25, 0.15, 0.12, 0.08])


def _population(rng: np.random.Generator, rows: int, *, shift: bool = False) -> dict[str, np.ndarray]:
    return {
        "x_shifted": rng.normal(loc=0.5 if shift else 0.0, size=rows),
        "x_same": rng.normal(size=rows),
        "y_same": rng.lognormal(size=rows),
        "c_shifted": LEVELS[rng.choice(5, size=rows, p=LEVEL_SHARES[::-1] if shift else LEVEL_SHARES)],
        "c_same": LEVELS[rng.choice(5, size=rows, p=LEVEL_SHARES)],
    }


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return build_baseline(_population(np.random.default_rng(0), 20_000))


def _feature(result: DriftResult, name: str) -> FeatureResult:
    return next(f for f in result.features if f.name == name)


# --- statistics on the engine path --------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "ties"), [(40, False), (40, True), (700, True), (3_000, False), (20_000, True)]
)
def test_ks_statistic_and_p_value_agree_with_scipy(baseline: Baseline, rows: int, ties: bool) -> None:
    rng = np.random.default_rng(rows)
    current = rng.normal(loc=0.05, size=rows)
    if ties:
        current = np.round(current, 1)
    current[::7] = np.nan  # missing values are dropped before the test

    result, _ = check_drift(baseline, {"x_same": current}, DriftConfig(min_rows=30))

    ks = _feature(result, "x_same").method("ks")
    reference = baseline.references["x_same"]
    assert isinstance(reference, NumericReference)
    expected = scipy.stats.ks_2samp(reference.sorted_sample, current[~np.isnan(current)], method="auto")
    assert ks is not None
    assert ks.statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert ks.score == pytest.approx(expected.pvalue, abs=1e-6)
    assert ks.p_value_method == ("exact" if rows <= 10_000 else "asymptotic")


def test_ks_statistic_matches_scipy_exactly_across_sizes_ties_and_shared_values() -> None:
    rng = np.random.default_rng(42)
    for trial in range(60):
        m = int(rng.choice([1, 3, 64, 65, 300, 4_000]))
        n = int(rng.choice([1, 2, 50, 999, 12_000]))
        a, b = rng.normal(size=m), rng.normal(loc=float(rng.choice([0.0, 0.02, 0.5])), size=n)
        if trial % 3 == 0:
            a, b = np.round(a, 1), np.round(b, 1)
        if trial % 5 == 0:
            b = np.concatenate([b, a[:20]])  # values both samples hold

        statistic = ks_statistic_sorted(np.sort(a), np.sort(b))

        assert statistic == scipy.stats.ks_2samp(a, b).statistic, (m, n, trial)


def _psi_by_hand(expected: list[float], actual: list[float], floor: float = 1e-4) -> float:
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, floor), max(a, floor)
        total += (a - e) * math.log(a / e)
    return total


def _js_by_hand(p: list[float], q: list[float]) -> float:
    total = 0.0
    for pi, qi in zip(p, q, strict=True):
        mi = (pi + qi) / 2
        if pi > 0:
            total += 0.5 * pi * math.log2(pi / mi)
        if qi > 0:
            total += 0.5 * qi * math.log2(qi / mi)
    return total


def _numeric_shares_by_hand(edges: list[float], values: list[float]) -> list[float]:
    counts = [0] * (len(edges) + 1)
    present = [v for v in values if not math.isnan(v)]
    for value in present:
        index = 0
        while index < len(edges) and value >= edges[index]:
            index += 1
        counts[index] += 1
    return [c / len(present) for c in counts]


def test_numeric_psi_and_js_match_a_plain_implementation(baseline: Baseline) -> None:
    rng = np.random.default_rng(5)
    current = np.concatenate([rng.normal(loc=0.3, size=900), [np.nan] * 10, [50.0] * 5])

    result, _ = check_drift(baseline, {"x_shifted": current})

    reference = baseline.references["x_shifted"]
    assert isinstance(reference, NumericReference)
    expected = reference.bin_shares.tolist()
    actual = _numeric_shares_by_hand(reference.inner_edges.tolist(), current.tolist())
    feature = _feature(result, "x_shifted")
    assert feature.method("psi").score == pytest.approx(_psi_by_hand(expected, actual), rel=1e-12)  # type: ignore[union-attr]
    assert feature.method("js").score == pytest.approx(_js_by_hand(expected, actual), rel=1e-12)  # type: ignore[union-attr]
    assert feature.histogram is not None
    assert list(feature.histogram.current) == pytest.approx(actual)


def test_categorical_psi_and_js_match_a_plain_implementation_with_unseen_and_empty_buckets(
    baseline: Baseline,
) -> None:
    current = ["alpha"] * 50 + ["beta"] * 30 + ["zeta"] * 15 + ["omega"] * 5  # no gamma, delta, epsilon

    result, _ = check_drift(baseline, {"c_same": current}, DriftConfig(min_rows=30))

    reference = baseline.references["c_same"]
    assert isinstance(reference, CategoricalReference)
    expected = [*reference.shares.tolist(), 0.0]
    counts = Counter(current)
    actual = [counts[c] / len(current) for c in reference.categories] + [20 / len(current)]
    feature = _feature(result, "c_same")
    assert feature.method("psi").score == pytest.approx(_psi_by_hand(expected, actual), rel=1e-12)  # type: ignore[union-attr]
    assert feature.method("js").score == pytest.approx(_js_by_hand(expected, actual), rel=1e-12)  # type: ignore[union-attr]


def test_chi_square_agrees_with_scipy_when_cells_are_not_sparse(baseline: Baseline) -> None:
    rng = np.random.default_rng(9)
    current = LEVELS[rng.choice(5, size=2_000, p=[0.35, 0.3, 0.15, 0.12, 0.08])]

    result, _ = check_drift(baseline, {"c_same": current})

    reference = baseline.references["c_same"]
    assert isinstance(reference, CategoricalReference)
    window_counts = [int(np.sum(current == c)) for c in reference.categories]
    expected = scipy.stats.chi2_contingency([reference.counts.tolist(), window_counts], correction=False)
    chi = _feature(result, "c_same").method("chi_square")
    assert chi is not None
    assert chi.p_value_method == "asymptotic"
    assert chi.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert chi.score == pytest.approx(expected.pvalue, rel=1e-6)


# --- thresholds and verdicts --------------------------------------------------------------------


def test_benjamini_hochberg_on_a_hand_checked_example() -> None:
    # m = 5, fdr = 0.05: critical values 0.01, 0.02, 0.03, 0.04, 0.05. Sorted p-values
    # 0.005, 0.01, 0.03, 0.04, 0.20: the largest rank under its critical value is 4.
    rejected, cut_off = benjamini_hochberg([0.01, 0.04, 0.03, 0.005, 0.20], 0.05)

    assert rejected.tolist() == [True, True, True, True, False]
    assert cut_off == pytest.approx(0.04)


def test_benjamini_hochberg_steps_up_past_a_p_value_above_its_critical_value() -> None:
    # Critical values 0.0125, 0.025, 0.0375, 0.05: 0.03 misses rank 2's, but rank 4 passes, so all go.
    rejected, cut_off = benjamini_hochberg([0.01, 0.03, 0.035, 0.04], 0.05)

    assert rejected.all()
    assert cut_off == pytest.approx(0.05)


def test_benjamini_hochberg_rejects_nothing_when_the_smallest_p_value_misses() -> None:
    rejected, cut_off = benjamini_hochberg([0.03, 0.5], 0.05)

    assert not rejected.any()
    assert cut_off == pytest.approx(0.025)


@pytest.mark.parametrize("rows", [500, 2_000, 100_000])
def test_shifted_features_are_flagged_and_unchanged_ones_are_not(baseline: Baseline, rows: int) -> None:
    window = _population(np.random.default_rng(rows), rows, shift=True)

    result, calibration = check_drift(baseline, window)

    assert result.drifted_features == ("x_shifted", "c_shifted")
    assert result.drift_share == pytest.approx(2 / 5)
    assert result.dataset_drift  # 0.4 >= the default drift_share of 0.25
    assert calibration.window_size == rows
    for feature in result.features:
        assert {m.method for m in feature.methods} == (
            {"ks", "psi", "js"} if feature.kind == "numeric" else {"chi_square", "psi", "js"}
        )


def test_tests_use_benjamini_hochberg_and_distances_their_calibrated_or_floor_threshold(
    baseline: Baseline,
) -> None:
    window = _population(np.random.default_rng(1), 500)

    result, calibration = check_drift(baseline, window)

    for feature in result.features:
        test, psi, js = feature.methods
        assert test.threshold_source == "benjamini_hochberg"
        for distance in (psi, js):
            calibrated = calibration.thresholds[feature.name][distance.method]
            floor = DriftConfig().floors[distance.method]
            assert distance.threshold == max(floor, calibrated)
            assert distance.threshold_source == ("floor" if floor > calibrated else "calibrated")
    assert result.drifted_features == ()


def test_fixed_thresholds_win_feature_over_model_and_leave_the_benjamini_hochberg_family(
    baseline: Baseline,
) -> None:
    config = DriftConfig(
        thresholds={"psi": 0.5, "ks": 0.01},
        feature_thresholds={"x_same": {"psi": 0.02, "ks": 0.2}},
    )
    window = _population(np.random.default_rng(2), 1_000)

    result, _ = check_drift(baseline, window, config)

    x_same, y_same, c_same = (_feature(result, n) for n in ("x_same", "y_same", "c_same"))
    assert (x_same.method("psi").threshold, x_same.method("psi").threshold_source) == (0.02, "feature")  # type: ignore[union-attr]
    assert (y_same.method("psi").threshold, y_same.method("psi").threshold_source) == (0.5, "model")  # type: ignore[union-attr]
    assert (x_same.method("ks").threshold, x_same.method("ks").threshold_source) == (0.2, "feature")  # type: ignore[union-attr]
    assert (y_same.method("ks").threshold, y_same.method("ks").threshold_source) == (0.01, "model")  # type: ignore[union-attr]
    # The chi-square tests are the only ones left to Benjamini-Hochberg: two of them, at 0.05.
    chi = c_same.method("chi_square")
    assert chi is not None
    assert chi.threshold_source == "benjamini_hochberg"
    assert chi.threshold in (pytest.approx(0.025), pytest.approx(0.05))


def test_the_decision_can_ask_for_every_method(baseline: Baseline) -> None:
    window = _population(np.random.default_rng(3), 2_000, shift=True)
    config = DriftConfig(decision=("test", "psi", "js"), feature_thresholds={"x_shifted": {"js": 1.0}})

    result, _ = check_drift(baseline, window, config)

    assert result.drifted_features == ("c_shifted",)  # x_shifted's JS cannot exceed 1


def test_sparse_categories_use_a_monte_carlo_chi_square_and_do_not_flag_unchanged_data() -> None:
    """GIVEN a categorical feature with 30 levels, a third of them rare, and windows of 150 rows
    WHEN its chi-square p-value is computed (expected cell counts far below 5)
    THEN it is Monte-Carlo, equals the calibration's formula, and flags about 5% of unchanged
    windows at a 0.05 level (at most 6 of 40: P(X >= 7) < 0.004 for Binomial(40, 0.05))."""
    rng = np.random.default_rng(11)
    levels = np.array([f"level_{i:02d}" for i in range(30)])
    shares = np.r_[np.full(20, 0.049), np.full(10, 0.002)]
    shares /= shares.sum()
    baseline = build_baseline({"c": levels[rng.choice(30, size=5_000, p=shares)]})
    config = DriftConfig(min_rows=100, resamples=2_000)

    calibration: Calibration | None = None
    flagged = 0
    for _ in range(40):
        window = {"c": levels[rng.choice(30, size=150, p=shares)]}
        result, calibration = check_drift(baseline, window, config, calibration=calibration)
        chi = result.features[0].method("chi_square")
        assert chi is not None
        assert chi.p_value_method == "monte_carlo"
        assert chi.statistic is not None
        assert chi.score == calibration.chi_square_pvalue("c", chi.statistic)
        flagged += chi.drifted
    assert flagged <= 6


# --- data quality -------------------------------------------------------------------------------


def test_a_feature_the_window_lacks_is_missing_not_drifted(baseline: Baseline) -> None:
    window = _population(np.random.default_rng(4), 500, shift=True)
    del window["y_same"]
    window["c_same"] = np.array([None] * 500, dtype=object)

    result, _ = check_drift(baseline, window)

    for name in ("y_same", "c_same"):
        feature = _feature(result, name)
        assert (feature.status, feature.drifted, feature.methods, feature.histogram) == (
            "missing",
            False,
            (),
            None,
        )
        assert feature.quality.missing_share == 1.0
    assert result.drift_share == pytest.approx(2 / 3)  # of the three checked features


def test_a_numeric_feature_arriving_as_text_is_a_type_mismatch(baseline: Baseline) -> None:
    window = _population(np.random.default_rng(5), 500)
    window["x_same"] = np.array([str(v) for v in window["x_same"]])
    mostly_numbers = window["y_same"].astype(object)
    mostly_numbers[:50] = "n/a"
    window["y_same"] = mostly_numbers

    result, _ = check_drift(baseline, window)

    x_same, y_same = _feature(result, "x_same"), _feature(result, "y_same")
    assert x_same.status == "type_mismatch"
    assert x_same.quality.non_numeric_share == 1.0
    assert y_same.status == "checked"
    assert y_same.present_rows == 450
    assert y_same.quality.non_numeric_share == pytest.approx(0.1)
    assert y_same.quality.missing_share == 0.0


def test_out_of_range_values_are_reported(baseline: Baseline) -> None:
    reference = baseline.references["x_same"]
    assert isinstance(reference, NumericReference)
    current = np.r_[np.zeros(180), [reference.maximum + 1] * 15, [reference.minimum - 1] * 5]

    result, _ = check_drift(baseline, {"x_same": current})

    assert _feature(result, "x_same").quality.out_of_range_share == pytest.approx(0.1)


@pytest.mark.parametrize("as_object", [False, True])
def test_unseen_categories_are_listed_and_bucketed(baseline: Baseline, as_object: bool) -> None:
    current = np.array(["alpha"] * 90 + ["zeta"] * 6 + ["eta"] * 4 + ["theta"] * 0)
    column = current.astype(object) if as_object else current

    result, _ = check_drift(baseline, {"c_same": column})

    feature = _feature(result, "c_same")
    assert feature.quality.unseen_categories == ("eta", "zeta")
    assert feature.quality.unseen_share == pytest.approx(0.1)
    assert feature.histogram is not None
    assert feature.histogram.labels[-1] == "(unseen)"
    assert feature.histogram.current[-1] == pytest.approx(0.1)


def test_extra_columns_are_reported(baseline: Baseline) -> None:
    window = _population(np.random.default_rng(6), 200)
    window["prediction"] = np.zeros(200)

    result, _ = check_drift(baseline, window, extra_columns=("request_id",))

    assert result.extra_columns == ("prediction", "request_id")


def test_too_few_rows_are_refused_with_the_count(baseline: Baseline) -> None:
    window = _population(np.random.default_rng(7), 60)

    with pytest.raises(InsufficientData, match="60 rows") as refused:
        check_drift(baseline, window)

    assert refused.value.min_rows == 100


def test_rows_without_any_baseline_value_do_not_count(baseline: Baseline) -> None:
    window = {"x_same": np.r_[np.zeros(90), np.full(200, np.nan)], "c_same": [None] * 290}

    with pytest.raises(InsufficientData, match="90 rows"):
        check_drift(baseline, window)


def test_columns_of_different_lengths_are_refused(baseline: Baseline) -> None:
    with pytest.raises(ValueError, match="different lengths"):
        check_drift(baseline, {"x_same": np.zeros(200), "c_same": ["alpha"] * 199})


@pytest.mark.parametrize(
    "config",
    [
        {"fdr": 0.0},
        {"fdr": 0.6},
        {"quantile": 1.0},
        {"floors": {"ks": 0.1}},
        {"thresholds": {"psi": -1.0}},
        {"thresholds": {"ks": 0.0}},
        {"thresholds": {"energy": 0.1}},
        {"min_rows": 10},
        {"resamples": 100},
        {"decision": ("test", "test")},
        {"decision": ("vibes",)},
        {"drift_share": 0.0},
    ],
)
def test_bad_configs_are_refused(config: dict[str, object]) -> None:
    with pytest.raises(DriftConfigError):
        DriftConfig(**config)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("feature_thresholds", "message"),
    [({"nope": {"psi": 0.1}}, "unknown feature"), ({"c_same": {"ks": 0.01}}, "does not apply")],
)
def test_configs_that_do_not_fit_the_baseline_are_refused(
    baseline: Baseline, feature_thresholds: dict[str, dict[str, float]], message: str
) -> None:
    config = DriftConfig(feature_thresholds=feature_thresholds)

    with pytest.raises(DriftConfigError, match=message):
        check_drift(baseline, _population(np.random.default_rng(8), 200), config)


# --- calibration reuse, results -----------------------------------------------------------------


def test_a_calibration_is_reused_for_a_close_window_size_and_replaced_otherwise(baseline: Baseline) -> None:
    rng = np.random.default_rng(9)
    _, first = check_drift(baseline, _population(rng, 1_000))

    close, used = check_drift(baseline, _population(rng, 1_150), calibration=first)
    far, replaced = check_drift(baseline, _population(rng, 5_000), calibration=first)

    assert close.calibration_reused
    assert used is first
    assert close.calibration_window_size == 1_000
    assert not far.calibration_reused
    assert replaced is not first
    assert far.calibration_window_size == 5_000


def test_the_result_round_trips_through_strict_json(baseline: Baseline) -> None:
    window = _population(np.random.default_rng(10), 300, shift=True)
    del window["y_same"]

    result, _ = check_drift(baseline, window, extra_columns=("label",))

    restored = DriftResult.from_dict(json.loads(json.dumps(result.to_dict(), allow_nan=False)))
    assert restored.to_dict() == result.to_dict()


def test_bin_labels_use_as_few_digits_as_keep_edges_apart() -> None:
    assert bin_labels(np.array([1.2, 3.4, 9.9])) == ("< 1.2", "[1.2, 3.4)", "[3.4, 9.9)", ">= 9.9")
    assert bin_labels(np.array([1.00001, 1.00002])) == ("< 1.00001", "[1.00001, 1.00002)", ">= 1.00002")
    assert bin_labels(np.array([-0.5, 0.0, 123456.0])) == ("< -0.5", "[-0.5, 0)", "[0, 123500)", ">= 123500")
    assert bin_labels(np.array([2.5e-7, 3e20])) == ("< 2.5e-07", "[2.5e-07, 3e+20)", ">= 3e+20")


@pytest.mark.parametrize(
    "values",
    [
        ["alpha", "beta", "beta", "zeta", "", "alpha"],  # short Latin-1: exact 8-byte keys
        ["a-rather-long-category", "beta", "a-rather-long-categorz", "x" * 40],  # hashed words
        ["café", "naïve", "日本", "日本語", "café"],  # beyond Latin-1
    ],
)
def test_text_columns_are_counted_exactly_whatever_their_encoding(values: list[str]) -> None:
    categories = sorted({values[0], values[1], "beta", "日本"})
    expected = Counter(values)

    for column in (np.array(values), np.array(values, dtype=object)):
        counts, missing, unseen = category_counts(categories, column)

        assert counts[:-1].tolist() == [expected[c] for c in categories]
        assert counts[-1] == sum(n for c, n in expected.items() if c not in categories)
        assert missing == 0
        assert unseen == tuple(sorted(c for c in expected if c not in categories))


def test_an_integer_beyond_float64_in_the_window_counts_as_missing_not_as_a_crash() -> None:
    # GIVEN a numeric baseline, and a window where captured JSON carried an integer too large for a float
    baseline = build_baseline({"x": [1.0, 2.0, 3.0, 4.0] * 30})
    window, _ = columns_from_records([{"x": 10**400}, {"x": 2.0}] * 60, [FeatureSpec("x", "numeric")])

    # WHEN the window is checked
    result, _ = check_drift(baseline, window, DriftConfig(min_rows=30))

    # THEN the huge values are missing values, and the rest is checked
    feature = result.features[0]
    assert feature.status == "checked"
    assert feature.quality.missing_share == 0.5
    assert feature.present_rows == 60
