"""The drift statistics' distribution functions: scipy's p-values, without importing scipy."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats
from cirrus_science.drift import distributions
from cirrus_science.drift.distributions import (
    KS_MAX_EXACT_N,
    chi2_sf,
    ks_2samp_pvalue,
    ks_2samp_pvalues,
    kstwo_sf,
)


def _samples(seed: int, n1: int, n2: int, *, shift: float, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n1), rng.normal(loc=shift, size=n2)
    if ties:  # few distinct values: ties within and across the samples
        a, b = np.round(a, 1), np.round(b, 1)
    return a, b


def _assert_matches_scipy_ks(a: np.ndarray, b: np.ndarray) -> None:
    expected = scipy.stats.ks_2samp(a, b, method="auto")
    pvalue = ks_2samp_pvalue(float(expected.statistic), a.size, b.size)
    # the issue asks for 1e-6 absolute; the port holds about 1e-10 relative, down the far tail
    assert pvalue == pytest.approx(expected.pvalue, rel=1e-8, abs=1e-12)


# --- Import path --------------------------------------------------------------------------------


def test_the_drift_statistics_import_no_scipy() -> None:
    probe = (
        "import sys\n"
        "import cirrus_science.drift, cirrus_science.drift.distributions, cirrus_science.drift.stats\n"
        "print(sorted(name for name in sys.modules if name.startswith('scipy')))\n"
    )
    result = subprocess.run(  # noqa: S603  # this interpreter, our own probe
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


# --- Two-sample KS p-value: exact path ----------------------------------------------------------


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize(
    ("n1", "n2"),
    [(1, 1), (1, 9), (2, 3), (5, 5), (7, 13), (13, 7), (12, 30), (25, 25), (49, 50), (50, 17)],
)
def test_exact_pvalue_matches_scipy_on_small_samples(n1: int, n2: int, ties: bool) -> None:
    for seed, shift in enumerate((0.0, 0.7, 3.0)):
        _assert_matches_scipy_ks(*_samples(seed, n1, n2, shift=shift, ties=ties))


@pytest.mark.parametrize(
    ("n1", "n2", "shift"),
    [
        (10_000, 500, 0.0),
        (500, 10_000, 0.15),
        (2_000, 2_000, 0.05),
        (10_000, 10_000, 0.02),
        (3_000, 7_001, 0.1),
        (999, 1_000, 0.0),
    ],
)
def test_exact_pvalue_matches_scipy_on_large_samples(n1: int, n2: int, shift: float) -> None:
    _assert_matches_scipy_ks(*_samples(n1 + n2, n1, n2, shift=shift, ties=False))


def test_exact_pvalue_of_small_unequal_samples_is_scipys_bit_for_bit() -> None:
    for seed, (n1, n2) in enumerate([(3, 8), (17, 40), (49, 50), (60, 41), (2, 1_000)]):
        a, b = _samples(seed, n1, n2, shift=0.4, ties=False)
        expected = scipy.stats.ks_2samp(a, b, method="auto")
        assert ks_2samp_pvalue(expected.statistic, n1, n2) == expected.pvalue


def test_the_vectorised_band_computation_agrees_with_scipys_cell_by_cell_recursion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(2024)
    cases = [(int(m), int(n)) for m, n in rng.integers(1, 90, size=(150, 2)) if m != n]
    expected = []
    for m, n in cases:
        g = math.gcd(m, n)
        h = int(rng.integers(1, m // g * n + 1))
        expected.append(((m, n, g, h), distributions._prob_outside_band_cellwise(m, n, g, h)))
    monkeypatch.setattr(distributions, "_CELLWISE_MAX", 0)
    for args, reference in expected:
        assert distributions._prob_outside_band(*args) == pytest.approx(reference, rel=1e-10, abs=1e-300)


def test_exact_pvalue_keeps_its_relative_accuracy_in_the_far_tail() -> None:
    a, b = _samples(5, 800, 600, shift=1.5, ties=False)
    expected = scipy.stats.ks_2samp(a, b, method="auto").pvalue
    assert 0 < expected < 1e-100
    assert ks_2samp_pvalue(scipy.stats.ks_2samp(a, b).statistic, 800, 600) == pytest.approx(
        expected, rel=1e-9
    )


def test_a_statistic_of_zero_has_pvalue_one() -> None:
    assert ks_2samp_pvalue(0.0, 1, 1) == 1.0
    assert ks_2samp_pvalue(0.0, 300, 700) == 1.0
    assert ks_2samp_pvalue(0.0, 20_000, 30_000) == 1.0


def test_a_statistic_of_one_matches_scipy_on_disjoint_samples() -> None:
    for n1, n2 in [(1, 1), (4, 4), (3, 8), (40, 25), (10_001, 2)]:
        _assert_matches_scipy_ks(np.arange(n1, dtype=float), np.arange(n2, dtype=float) + n1)


def test_the_statistic_is_snapped_to_the_lattice_of_attainable_values() -> None:
    # D is a multiple of 1/lcm(n1, n2) = 1/60; scipy rounds D * lcm to the nearest integer first
    assert ks_2samp_pvalue(7 / 60 + 1e-9, 12, 20) == ks_2samp_pvalue(7 / 60, 12, 20)
    assert ks_2samp_pvalue(0.4 / 60, 12, 20) == 1.0  # rounds to h = 0


def test_exact_failure_warns_and_falls_back_to_the_asymptotic_pvalue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(distributions, "_prob_outside_band", lambda *_: math.nan)
    with pytest.warns(RuntimeWarning, match="Exact calculation unsuccessful"):
        pvalue = ks_2samp_pvalue(7 / 60, 12, 20)
    assert pvalue == kstwo_sf(7 / 60, round(12 * 20 / 32))


# --- Two-sample KS p-value: asymptotic path -----------------------------------------------------


def test_samples_above_max_auto_n_take_the_asymptotic_path() -> None:
    d = 0.015
    assert ks_2samp_pvalue(d, KS_MAX_EXACT_N + 1, 10_000) == kstwo_sf(d, round(10_001 * 10_000 / 20_001))
    assert ks_2samp_pvalue(d, KS_MAX_EXACT_N, 10_000) != kstwo_sf(d, 5_000)  # still exact at the bound


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize(
    ("n1", "n2", "shift"),
    [
        (10_001, 1, 0.0),  # effective n = 1
        (10_001, 3, 1.0),
        (12_000, 60, 0.3),  # effective n <= 140: Durbin matrix / Pomeranz / Smirnov
        (10_001, 10_000, 0.03),
        (20_000, 100_000, 0.01),
        (100_000, 10_000, 0.05),
    ],
)
def test_asymptotic_pvalue_matches_scipy(n1: int, n2: int, shift: float, ties: bool) -> None:
    _assert_matches_scipy_ks(*_samples(n1 + n2, n1, n2, shift=shift, ties=ties))


@pytest.mark.parametrize("n", [1, 2, 3, 10, 60, 140, 141, 1_000, 5_000, 100_001, 2_000_000])
def test_kstwo_sf_matches_scipy_across_the_range_of_d(n: int) -> None:
    # every branch of scipy's _kolmogn: the support ends, Ruben-Gambino, Smirnov, Durbin matrix,
    # Pomeranz, Pelz-Good, and the cut-offs in n * d**2 between them
    cutoffs = np.sqrt(np.array([0.5, 0.754693, 0.76, 2.19, 2.2, 4.0, 4.01, 18.0, 369.0, 371.0]) / n)
    ends = np.array([0.0, 0.25 / n, 0.5 / n, 0.75 / n, 1 / n, 1.5 / n, 1 - 1.5 / n, 1 - 1 / n, 0.5, 1.0])
    grid = np.concatenate([np.geomspace(1e-4, 1.0, 25), cutoffs, ends])
    grid = grid[(grid >= 0) & (grid <= 1)]
    if n > 20_000:  # scipy's own Smirnov sum takes ~0.3 s a call there: covered at n = 5_000
        grid = grid[(n * grid**2 < 2.2) | (n * grid**2 >= 370)]
    for d in grid.tolist():
        expected = float(scipy.stats.kstwo.sf(d, n))
        assert kstwo_sf(d, n) == pytest.approx(expected, rel=1e-8, abs=1e-12), d


def test_pvalues_of_many_statistics_broadcast_like_the_scalar_function() -> None:
    statistics = np.array([[0.0, 0.05, 0.2], [0.5, 0.9, 1.0]])
    pvalues = ks_2samp_pvalues(statistics, 40, np.array([30, 20_000, 41]))
    expected = [
        [ks_2samp_pvalue(d, 40, n2) for d, n2 in zip(row, (30, 20_000, 41), strict=True)]
        for row in statistics
    ]
    np.testing.assert_array_equal(pvalues, expected)


@pytest.mark.parametrize(
    ("statistic", "n1", "n2"), [(-0.1, 5, 5), (1.5, 5, 5), (math.nan, 5, 5), (0.5, 0, 5), (0.5, 5, 2.5)]
)
def test_invalid_arguments_are_a_clear_error(statistic: float, n1: int, n2: int) -> None:
    with pytest.raises(ValueError, match=r"KS statistic|sample size"):
        ks_2samp_pvalue(statistic, n1, n2)


# --- Chi-square survival function ---------------------------------------------------------------


@pytest.mark.parametrize("dof", [1, 2, 3, 4, 5, 7, 10, 20, 50, 99, 100, 250, 500, 999, 1000])
def test_chi2_sf_matches_scipy(dof: int) -> None:
    x = np.concatenate([np.geomspace(1e-6, 1e4, 60), dof + np.linspace(-6, 6, 25) * math.sqrt(2 * dof)])
    x = x[x > 0]
    expected = scipy.stats.chi2.sf(x, dof)
    actual = np.array([chi2_sf(value, dof) for value in x.tolist()])
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-12)


def test_chi2_sf_at_the_ends_of_its_domain() -> None:
    assert chi2_sf(0.0, 3) == 1.0
    assert chi2_sf(-2.0, 3) == 1.0
    assert chi2_sf(math.inf, 3) == 0.0
    assert chi2_sf(1e6, 1) == 0.0
    assert math.isnan(chi2_sf(math.nan, 3))
    assert math.isnan(chi2_sf(1.0, 0))
