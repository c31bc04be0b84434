"""The statistical core of the drift engine.

Reference profiles, and the statistics that compare a batch with them.
"""

from cirrus_science.drift.reference import CategoricalReference, NumericReference
from cirrus_science.drift.stats import (
    PSI_FLOOR,
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

__all__ = [
    "PSI_FLOOR",
    "CategoricalReference",
    "NumericReference",
    "chi_square_categorical",
    "jensen_shannon",
    "ks_two_sample",
    "missing_share",
    "non_numeric_share",
    "out_of_range_share",
    "psi",
    "psi_categorical",
    "unseen_categories",
    "unseen_category_share",
]
