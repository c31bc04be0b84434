"""The drift engine's statistical core: reference profiles, and statistics that agree with scipy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.stats
from cirrus_science.drift import (
    PSI_FLOOR,
    CategoricalReference,
    NumericReference,
    chi_square_categorical,
    jensen_shannon,
    ks_two_sample,
    missing_share,
    non_numeric_share,
    out_of_range_share,
    psi,
    psi_categorical,
    unseen_categories,
    unseen_category_share,
)
from cirrus_science.drift.stats import category_shares, numeric_bin_shares
from scipy.spatial.distance import jensenshannon

SMALL_SIZES = [(5, 5), (5, 9), (12, 30), (50, 50), (50, 17)]
LARGE_SIZES = [(10_000, 12_000), (20_000, 100_000), (100_000, 10_000)]


def _samples(seed: int, n1: int, n2: int, *, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n1)
    b = rng.normal(loc=0.3, scale=1.2, size=n2)
    if ties:  # few distinct values, many ties within and across samples
        a, b = np.round(a, 1), np.round(b, 1)
    return a, b


# --- Kolmogorov-Smirnov -------------------------------------------------------------------------


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("n1", "n2"), SMALL_SIZES)
def test_ks_agrees_with_scipy_on_small_samples(n1: int, n2: int, seed: int, ties: bool) -> None:
    a, b = _samples(seed, n1, n2, ties=ties)
    statistic, pvalue = ks_two_sample(np.sort(a), b)
    expected = scipy.stats.ks_2samp(a, b, method="auto")
    assert statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert pvalue == pytest.approx(expected.pvalue, abs=1e-6)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize(("n1", "n2"), LARGE_SIZES)
def test_ks_agrees_with_scipy_on_large_samples(n1: int, n2: int, ties: bool) -> None:
    a, b = _samples(n1 + n2, n1, n2, ties=ties)
    b = b * 0.2 + a.mean()  # a milder shift, so the p-value is not simply 0
    statistic, pvalue = ks_two_sample(np.sort(a), b)
    expected = scipy.stats.ks_2samp(a, b, method="auto")
    assert statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert pvalue == pytest.approx(expected.pvalue, abs=1e-6)


def test_ks_same_distribution_gives_large_pvalue_and_shift_small() -> None:
    rng = np.random.default_rng(7)
    reference = np.sort(rng.normal(size=20_000))
    assert ks_two_sample(reference, rng.normal(size=20_000))[1] > 0.01
    assert ks_two_sample(reference, rng.normal(loc=0.5, size=20_000))[1] < 1e-10


def test_ks_drops_missing_values_from_the_current_sample() -> None:
    rng = np.random.default_rng(3)
    reference = np.sort(rng.normal(size=40))
    current = rng.normal(size=30)
    with_missing = np.concatenate([current, [np.nan, np.inf, -np.inf]])
    assert ks_two_sample(reference, with_missing) == ks_two_sample(reference, current)


def test_ks_identical_constant_samples() -> None:
    assert ks_two_sample(np.full(20, 3.0), np.full(15, 3.0)) == (0.0, 1.0)


def test_ks_empty_current_sample_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no present values"):
        ks_two_sample(np.arange(10.0), [])
    with pytest.raises(ValueError, match="no present values"):
        ks_two_sample(np.arange(10.0), [np.nan, None])


def test_ks_refuses_an_unsorted_reference() -> None:
    with pytest.raises(ValueError, match="sorted"):
        ks_two_sample(np.array([2.0, 1.0]), [1.0])


# --- Numeric reference --------------------------------------------------------------------------


def test_numeric_reference_bins_are_deciles_with_open_outer_bins() -> None:
    values = np.random.default_rng(11).normal(size=10_000)
    reference = NumericReference.from_sample(values)
    assert reference.inner_edges.shape == (9,)
    np.testing.assert_allclose(reference.inner_edges, np.quantile(values, np.linspace(0, 1, 11)[1:-1]))
    np.testing.assert_allclose(reference.bin_shares, np.full(10, 0.1), atol=1e-3)
    assert reference.bin_edges[0] == -np.inf
    assert reference.bin_edges[-1] == np.inf
    # values far outside the baseline still land in the outer bins
    np.testing.assert_array_equal(numeric_bin_shares(reference, [-1e9, 1e9]), [0.5] + [0.0] * 8 + [0.5])


def test_numeric_reference_collapses_duplicate_edges() -> None:
    values = np.array([0.0] * 80 + [1.0] * 10 + [2.0] * 10)
    reference = NumericReference.from_sample(values)
    assert np.all(np.diff(reference.inner_edges) > 0)
    assert math.isclose(reference.bin_shares.sum(), 1.0)
    assert reference.bin_shares.shape == (reference.inner_edges.shape[0] + 1,)


def test_numeric_reference_of_identical_values() -> None:
    reference = NumericReference.from_sample(np.full(50, 4.2))
    np.testing.assert_array_equal(reference.inner_edges, [4.2])
    np.testing.assert_array_equal(reference.bin_shares, [0.0, 1.0])
    assert psi(reference, np.full(10, 4.2)) == 0.0
    assert jensen_shannon(reference, np.full(10, 4.2)) == 0.0
    assert psi(reference, np.full(10, 1.0)) > 1.0


def test_numeric_reference_counts_missing_and_keeps_them_out() -> None:
    reference = NumericReference.from_sample([1.0, np.nan, 2.0, None, np.inf, 3.0])
    assert reference.n_missing == 3
    assert reference.n_present == 3
    assert reference.missing_share == 0.5
    np.testing.assert_array_equal(reference.sorted_sample, [1.0, 2.0, 3.0])
    assert (reference.minimum, reference.maximum) == (1.0, 3.0)


def test_numeric_reference_caps_the_sample_by_even_spaced_order_statistics() -> None:
    values = np.random.default_rng(5).permutation(np.arange(1001.0))
    reference = NumericReference.from_sample(values, max_sample_size=11)
    np.testing.assert_array_equal(reference.sorted_sample, np.arange(0.0, 1001.0, 100.0))
    assert reference.n_present == 1001  # the bins and counts still come from the full baseline
    assert NumericReference.from_sample(values, max_sample_size=11).sorted_sample.tolist() == (
        reference.sorted_sample.tolist()
    )


def test_numeric_reference_refuses_an_empty_baseline() -> None:
    with pytest.raises(ValueError, match="no present"):
        NumericReference.from_sample([np.nan, None])


def test_numeric_reference_round_trips_through_json() -> None:
    reference = NumericReference.from_sample([*np.random.default_rng(2).gamma(2.0, size=500).tolist(), None])
    text = json.dumps(reference.to_dict(), allow_nan=False)
    restored = NumericReference.from_dict(json.loads(text))
    assert restored.to_dict() == reference.to_dict()
    current = np.random.default_rng(9).gamma(2.5, size=300)
    assert psi(restored, current) == psi(reference, current)
    assert ks_two_sample(restored.sorted_sample, current) == ks_two_sample(reference.sorted_sample, current)


def test_reference_from_dict_checks_the_kind() -> None:
    with pytest.raises(ValueError, match="not a numeric reference"):
        NumericReference.from_dict(CategoricalReference.from_sample(["a"]).to_dict())


# --- PSI and Jensen-Shannon ---------------------------------------------------------------------


def test_psi_matches_its_formula_with_the_floor() -> None:
    rng = np.random.default_rng(4)
    reference = NumericReference.from_sample(rng.normal(size=5_000))
    current = rng.normal(loc=0.5, size=3_000)
    p = np.maximum(reference.bin_shares, PSI_FLOOR)
    q = np.maximum(numeric_bin_shares(reference, current), PSI_FLOOR)
    assert psi(reference, current) == pytest.approx(np.sum((q - p) * np.log(q / p)), rel=1e-12)
    assert psi(reference, current) > 0.1


def test_psi_of_the_baseline_itself_is_zero() -> None:
    values = np.random.default_rng(8).exponential(size=2_000)
    assert psi(NumericReference.from_sample(values), values) == 0.0


def test_psi_empty_bin_uses_the_floor() -> None:
    reference = NumericReference.from_sample(np.arange(100.0), n_bins=2)
    # every current value in the upper bin: shares (0.5, 0.5) against (floor, 1)
    expected = (PSI_FLOOR - 0.5) * math.log(PSI_FLOOR / 0.5) + 0.5 * math.log(1 / 0.5)
    assert psi(reference, [99.0, 80.0]) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_jensen_shannon_is_the_squared_scipy_distance_numeric(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reference = NumericReference.from_sample(rng.normal(size=3_000))
    current = rng.normal(loc=0.4 * seed, size=1_000)
    p, q = reference.bin_shares, numeric_bin_shares(reference, current)
    assert jensen_shannon(reference, current) == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-12)


def test_jensen_shannon_is_the_squared_scipy_distance_categorical() -> None:
    reference = CategoricalReference.from_sample(["a"] * 50 + ["b"] * 30 + ["c"] * 20)
    current = ["a"] * 10 + ["c"] * 60 + ["z"] * 30
    p, q = category_shares(reference, current)
    assert jensen_shannon(reference, current) == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-12)


def test_jensen_shannon_on_disjoint_supports() -> None:
    reference = NumericReference.from_sample(np.arange(100.0), n_bins=2)
    # shares (0.5, 0.5) against (1, 0): mixture (0.75, 0.25)
    expected = 0.5 * (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)) + 0.5 * math.log2(1 / 0.75)
    assert jensen_shannon(reference, [-5.0, -6.0]) == pytest.approx(expected, rel=1e-12)
    categorical = CategoricalReference.from_sample(["a", "b"])
    assert jensen_shannon(categorical, ["x", "y"]) == pytest.approx(1.0, abs=1e-12)


def test_psi_categorical_has_a_bucket_for_unseen_categories() -> None:
    reference = CategoricalReference.from_sample(["a"] * 60 + ["b"] * 40)
    assert psi_categorical(reference, ["a"] * 6 + ["b"] * 4) == 0.0
    p = np.array([0.6, 0.4, PSI_FLOOR])
    q = np.array([0.5, 0.3, 0.2])
    expected = float(np.sum((q - p) * np.log(q / p)))
    assert psi_categorical(reference, ["a"] * 5 + ["b"] * 3 + ["new"] * 2) == pytest.approx(
        expected, rel=1e-12
    )


# --- Chi-square ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_chi_square_agrees_with_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = np.array(["red", "green", "blue", "grey"])
    reference = CategoricalReference.from_sample(rng.choice(labels, size=400, p=[0.4, 0.3, 0.2, 0.1]))
    current = rng.choice(np.append(labels, "pink"), size=150, p=[0.3, 0.3, 0.2, 0.1, 0.1]).tolist()
    if seed % 2:  # without an unseen category the table has no unseen column
        current = [c for c in current if c != "pink"]
    counts = reference.bucket_counts(np.array(current))
    table = np.vstack([np.append(reference.counts, 0), counts])
    table = table[:, table.sum(axis=0) > 0]
    expected = scipy.stats.chi2_contingency(table, correction=False)
    statistic, pvalue = chi_square_categorical(reference, current)
    assert statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert pvalue == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-15)


def test_chi_square_single_category_on_both_sides() -> None:
    reference = CategoricalReference.from_sample(["a"] * 5)
    assert chi_square_categorical(reference, ["a", "a"]) == (0.0, 1.0)


def test_categorical_statistics_refuse_an_empty_current_sample() -> None:
    reference = CategoricalReference.from_sample(["a", "b"])
    for statistic in (chi_square_categorical, psi_categorical, jensen_shannon, unseen_category_share):
        with pytest.raises(ValueError, match="no present values"):
            statistic(reference, [None, float("nan")])


def test_categorical_reference_round_trips_through_json() -> None:
    reference = CategoricalReference.from_sample(["b", "a", "b", None, 3])
    assert reference.categories == ("3", "a", "b")
    assert reference.counts.tolist() == [1, 1, 2]
    assert reference.missing_share == 0.2
    restored = CategoricalReference.from_dict(json.loads(json.dumps(reference.to_dict(), allow_nan=False)))
    assert restored.to_dict() == reference.to_dict()
    assert chi_square_categorical(restored, ["a", "b"]) == chi_square_categorical(reference, ["a", "b"])


# --- Data-quality checks ------------------------------------------------------------------------


def test_missing_share() -> None:
    assert missing_share([1.0, np.nan, None, 4.0]) == 0.5
    assert missing_share(np.array([1.0, np.inf, 3.0, 4.0])) == 0.25
    assert missing_share(["a", None, "b", float("nan")], numeric=False) == 0.5
    assert missing_share(np.arange(5)) == 0.0
    with pytest.raises(ValueError, match="no values"):
        missing_share([])


def test_non_numeric_share_spots_a_numeric_feature_arriving_as_text() -> None:
    assert non_numeric_share(np.arange(4.0)) == 0.0
    assert non_numeric_share(["1.5", "2.0"]) == 1.0
    assert non_numeric_share([1.0, "oops", None, 3]) == pytest.approx(1 / 3)
    assert non_numeric_share(np.array([True, 1.0], dtype=object)) == 0.5
    with pytest.raises(TypeError, match="non-numeric"):
        psi(NumericReference.from_sample([1.0, 2.0]), [1.0, "oops"])


def test_out_of_range_share() -> None:
    reference = NumericReference.from_sample(np.linspace(0.0, 10.0, 101))
    assert out_of_range_share(reference, [-1.0, 0.0, 5.0, 10.0, 10.5, np.nan]) == pytest.approx(2 / 5)


def test_unseen_categories() -> None:
    reference = CategoricalReference.from_sample(["a", "b"])
    current = ["a", "z", "y", "z", None]
    assert unseen_categories(reference, current) == ["y", "z"]
    assert unseen_category_share(reference, current) == 0.75
