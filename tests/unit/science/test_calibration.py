"""Calibrated distance thresholds: the resampled no-drift distribution of PSI and JS at a window size."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from cirrus_science.drift import calibration as calibration_module
from cirrus_science.drift.baseline import Baseline, FeatureSpec, build_baseline
from cirrus_science.drift.calibration import (
    Calibration,
    _draw_shares,
    calibrate,
    distance_terms,
    is_reusable,
)
from cirrus_science.drift.config import DriftConfig
from cirrus_science.drift.reference import CategoricalReference, NumericReference

CONFIG = DriftConfig(resamples=400)


def _baseline(seed: int = 0, rows: int = 2000) -> Baseline:
    rng = np.random.default_rng(seed)
    return build_baseline(
        {
            "x": rng.normal(size=rows),
            "y": rng.exponential(size=rows),
            "plan": rng.choice(["basic", "plus", "pro", "rare"], size=rows, p=[0.6, 0.3, 0.098, 0.002]),
        }
    )


def test_every_feature_gets_a_psi_and_a_js_threshold() -> None:
    baseline = _baseline()

    calibration = calibrate(baseline, 500, CONFIG)

    assert set(calibration.thresholds) == {"x", "y", "plan"}
    for per_method in calibration.thresholds.values():
        assert set(per_method) == {"psi", "js"}
        assert all(value > 0 for value in per_method.values())
    assert calibration.baseline_fingerprint == baseline.fingerprint
    assert (calibration.window_size, calibration.quantile, calibration.resamples) == (500, 0.95, 400)


def test_thresholds_shrink_as_the_window_grows() -> None:
    baseline = _baseline()

    small = calibrate(baseline, 200, CONFIG).thresholds["x"]["psi"]
    large = calibrate(baseline, 20_000, CONFIG).thresholds["x"]["psi"]

    assert large < small / 5


def test_only_categorical_features_keep_a_chi_square_null() -> None:
    calibration = calibrate(_baseline(), 500, CONFIG)

    assert set(calibration.chi_square_null) == {"plan"}
    null = calibration.chi_square_null["plan"]
    assert null.shape == (400,)
    assert np.all(np.diff(null) >= 0)


def test_a_seed_makes_calibration_reproducible() -> None:
    baseline = _baseline()

    first = calibrate(baseline, 500, CONFIG, seed=7)
    again = calibrate(baseline, 500, CONFIG, seed=7)
    other = calibrate(baseline, 500, CONFIG, seed=8)

    assert first.to_dict() == again.to_dict()
    assert first.thresholds != other.thresholds


def test_features_with_the_same_distribution_share_one_null() -> None:
    rng = np.random.default_rng(0)
    baseline = build_baseline({"a": rng.normal(size=1000), "b": rng.uniform(size=1000)})

    calibration = calibrate(baseline, 300, CONFIG)

    # Equal-frequency bins of continuous data: identical shares and counts, identical null.
    assert calibration.thresholds["a"] == calibration.thresholds["b"]


def test_round_trip_through_json() -> None:
    calibration = calibrate(_baseline(), 500, CONFIG, seed=3)

    restored = Calibration.from_dict(json.loads(json.dumps(calibration.to_dict(), allow_nan=False)))

    assert restored.to_dict() == calibration.to_dict()
    np.testing.assert_array_equal(restored.chi_square_null["plan"], calibration.chi_square_null["plan"])


def test_from_dict_refuses_an_unknown_format_version() -> None:
    data = calibrate(_baseline(), 500, CONFIG).to_dict()
    data["format_version"] = 99

    with pytest.raises(ValueError, match="format version"):
        Calibration.from_dict(data)


@pytest.mark.parametrize(
    ("window_size", "config", "reusable"),
    [
        (1000, CONFIG, True),
        (1200, CONFIG, True),  # exactly 20% more
        (800, CONFIG, True),  # exactly 20% less
        (1201, CONFIG, False),
        (799, CONFIG, False),
        (1000, DriftConfig(resamples=400, quantile=0.99), False),
        (1000, DriftConfig(resamples=500), False),
    ],
)
def test_a_calibration_is_reused_only_for_the_same_baseline_settings_and_a_close_window_size(
    window_size: int, config: DriftConfig, reusable: bool
) -> None:
    baseline = _baseline()
    calibration = calibrate(baseline, 1000, CONFIG)

    assert is_reusable(calibration, baseline, window_size, config) is reusable


def test_a_calibration_of_another_baseline_is_not_reused() -> None:
    calibration = calibrate(_baseline(seed=0), 1000, CONFIG)

    assert not is_reusable(calibration, _baseline(seed=1), 1000, CONFIG)


def test_monte_carlo_p_value_counts_null_statistics_at_least_as_large() -> None:
    null = np.arange(1.0, 201.0)  # 1, 2, ..., 200
    calibration = Calibration("f" * 64, 100, 0.95, 200, 0, {}, {"c": null})

    assert calibration.chi_square_pvalue("c", 200.0) == pytest.approx(2 / 201)  # the tie counts
    assert calibration.chi_square_pvalue("c", 1000.0) == pytest.approx(1 / 201)
    assert calibration.chi_square_pvalue("c", 0.5) == pytest.approx(1.0)


def test_the_normal_approximation_matches_exact_multinomial_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN cells expecting 100 to 400 counts (the normal path's lower limit and above)
    WHEN the 95% quantiles of PSI and JS are estimated from 20 000 resamples, exactly and with the
    normal approximation
    THEN they agree within 4 Monte-Carlo standard errors of their difference."""
    shares = np.array([0.1, 0.15, 0.2, 0.25, 0.3])
    resamples = 20_000

    def quantiles(exact: bool, seed: int) -> np.ndarray:
        monkeypatch.setattr(calibration_module, "NORMAL_MIN_EXPECTED", math.inf if exact else 100.0)
        rng = np.random.default_rng(seed)
        reference = _draw_shares(rng, 4000, shares, resamples)
        current = _draw_shares(rng, 1000, shares, resamples)
        psi, js = (terms.sum(axis=1) for terms in distance_terms(reference, current))
        return np.array([np.quantile(psi, 0.95), np.quantile(js, 0.95)])

    exact, normal = quantiles(True, 1), quantiles(False, 2)

    # A quantile's relative standard error here is about 0.85% (measured over 20 seeds); 4 sigma of
    # the difference of two independent estimates is about 5%.
    np.testing.assert_allclose(normal, exact, rtol=0.05)


def _reference_of(spec: FeatureSpec, column: np.ndarray) -> NumericReference | CategoricalReference:
    if spec.kind == "numeric":
        return NumericReference.from_sample(column)
    return CategoricalReference.from_sample(column)


def test_false_positive_rate_on_unchanged_data_is_near_the_nominal_level() -> None:
    """GIVEN, for each of 8 seeds, 20 features (15 numeric from four families, some with ties and a
    distinct number of missing values, 5 categorical with random shares), a reference of 1200 rows
    and 80 windows of 300 rows drawn from the same populations; floors set to 0
    WHEN each window's PSI (and JS) is compared with the feature's calibrated 95% threshold
    THEN the share above it is within 4.5 standard errors of the nominal level.

    Statistics. The units are the 160 (seed, feature) pairs: each has its own reference sample, its
    own resampled null (distinct shares or counts) and its own windows, so they are independent and
    identically distributed; their exceedance shares are averaged and the standard error of that
    mean is estimated from their spread (it covers both the binomial noise of the windows and the
    unit-to-unit variation of thresholds). The nominal level for a linear-interpolated empirical
    quantile of R resamples is ``1 - ((R - 1) q + 1) / (R + 1)`` (0.0522 for R = 400). A 4.5-sigma
    band fails by chance with probability below 1e-5; the test also requires that band to be
    narrower than +-0.02, so a miscalibration of that size cannot pass.
    """
    resamples, q = 400, 0.95
    config = DriftConfig(floors={"psi": 0.0, "js": 0.0}, resamples=resamples)
    nominal = 1 - ((resamples - 1) * q + 1) / (resamples + 1)
    seeds, n_numeric, n_categorical, rows, window, windows = 8, 15, 5, 1200, 300, 80
    labels = np.array(list("abcdefgh"))

    def draw(rng: np.random.Generator, family: int, size: tuple[int, ...] | int) -> np.ndarray:
        return [
            lambda: rng.normal(size=size),
            lambda: rng.lognormal(size=size),
            lambda: rng.uniform(size=size),
            lambda: np.round(rng.normal(size=size), 1),  # ties: unequal bin shares
        ][family % 4]()

    exceedances: dict[str, list[float]] = {"psi": [], "js": []}
    for seed in range(seeds):
        rng = np.random.default_rng(10_000 + seed)
        specs = [FeatureSpec(f"x{i}", "numeric") for i in range(n_numeric)] + [
            FeatureSpec(f"c{i}", "categorical") for i in range(n_categorical)
        ]
        category_shares = {f"c{i}": rng.dirichlet(np.ones(8)) for i in range(n_categorical)}
        references = {}
        for i, spec in enumerate(specs):
            if spec.kind == "numeric":
                column = draw(rng, i, rows)
                column[: i + 1] = np.nan
            else:
                column = labels[rng.choice(8, size=rows, p=category_shares[spec.name])]
            references[spec.name] = _reference_of(spec, column)
        baseline = Baseline(tuple(specs), references, rows, {s.name: {} for s in specs}, {})
        calibration = calibrate(baseline, window, config, seed=seed)

        for i, spec in enumerate(specs):
            reference = references[spec.name]
            if isinstance(reference, NumericReference):
                bins = np.searchsorted(reference.inner_edges, draw(rng, i, (windows, window)), side="right")
                k = reference.bin_shares.shape[0]
                offsets = np.arange(windows)[:, None] * k
                counts = np.bincount((bins + offsets).ravel(), minlength=windows * k).reshape(windows, k)
                expected = reference.bin_shares
            else:
                true = category_shares[spec.name][np.searchsorted(labels, reference.categories)]
                counts = rng.multinomial(window, true / true.sum(), size=windows)
                expected = reference.shares
            psi_cells, js_cells = distance_terms(np.broadcast_to(expected, counts.shape), counts / window)
            for method, cells in (("psi", psi_cells), ("js", js_cells)):
                scores = cells.sum(axis=1)
                exceedances[method].append(float(np.mean(scores > calibration.thresholds[spec.name][method])))

    for method, shares in exceedances.items():
        units = np.asarray(shares)
        mean = units.mean()
        standard_error = units.std(ddof=1) / math.sqrt(units.shape[0])
        assert 4.5 * standard_error < 0.02, f"{method}: the test lacks power ({standard_error=:.4f})"
        assert abs(mean - nominal) <= 4.5 * standard_error, (
            f"{method}: {mean:.4f} of unchanged windows above the threshold, nominal {nominal:.4f}, "
            f"standard error {standard_error:.4f}"
        )
