"""Seeded synthetic data for the drift benchmark, with a labelled drift scenario (numpy only).

This module imports nothing but numpy and the standard library: the Evidently runner executes it in
its own virtual environment, so both sides of the comparison see the very same arrays.

Schema (fixed, whatever the seed): 60 features.
    50 numeric, ``num_00`` .. ``num_49``, float64, cycling through five families: normal, lognormal,
    exponential, integer-valued counts (Poisson, heavy ties) and integer-valued scores (a rounded
    normal on a small grid). Every seventh numeric feature has missing values (NaN, 2-10%, the same
    share in the reference and the windows).
    10 categorical, ``cat_0`` .. ``cat_9``, 20 levels each (``"L00"`` .. ``"L19"``) with skewed
    (Zipf-like) shares, stored as numpy ``str`` arrays; no missing values.

Drift scenario (``SCENARIO``, fixed): 18 drifted features, at four magnitudes, the other 42 unchanged.
    mean shift (in units of the feature's standard deviation): large 1.0, moderate 0.3, small 0.1, tiny 0.03
    scale change (spread multiplied, mean kept):               large 2.0, moderate 1.3, small 1.1, tiny 1.03
    category share move (total variation distance):          large 0.20, moderate 0.08, small 0.03, tiny 0.01
    The tiny shifts are real but arguably nobody's concern; they are labelled drifted all the same, so
    recall counts them, and the output breaks detections down by magnitude.

Data
    ``reference(seed)`` draws the reference table (50,000 rows by default); ``window(seed, rows)`` a
    current window of any size with the scenario applied (``drifted=False`` for an unchanged window).
    Each feature of each call draws from its own generator, seeded with ``(seed, rows, role, feature)``,
    so any window can be regenerated alone, in either environment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

Family = Literal["normal", "lognormal", "exponential", "counts", "scores"]
DriftKind = Literal["mean", "scale", "shares"]
Magnitude = Literal["large", "moderate", "small", "tiny"]

N_NUMERIC: Final = 50
N_CATEGORICAL: Final = 10
N_LEVELS: Final = 20
REFERENCE_ROWS: Final = 50_000
WINDOW_SIZES: Final = (500, 2_000, 10_000, 100_000)
SEED: Final = 20240607
LEVELS: Final = tuple(f"L{k:02d}" for k in range(N_LEVELS))
MAGNITUDES: Final[tuple[Magnitude, ...]] = ("large", "moderate", "small", "tiny")

SIZES: Final[dict[DriftKind, dict[Magnitude, float]]] = {
    "mean": {"large": 1.0, "moderate": 0.3, "small": 0.1, "tiny": 0.03},
    "scale": {"large": 2.0, "moderate": 1.3, "small": 1.1, "tiny": 1.03},
    "shares": {"large": 0.20, "moderate": 0.08, "small": 0.03, "tiny": 0.01},
}

_FAMILIES: Final[tuple[Family, ...]] = ("normal", "lognormal", "exponential", "counts", "scores")
_SCHEMA_SEED: Final = 7


@dataclass(frozen=True)
class NumericSpec:
    name: str
    family: Family
    a: float  # normal/scores: mean; lognormal: mu; exponential: scale; counts: lambda
    b: float  # normal/scores: std; lognormal: sigma; unused otherwise
    missing: float  # share of NaN

    @property
    def mean(self) -> float:
        if self.family == "lognormal":
            return float(np.exp(self.a + self.b**2 / 2))
        return self.a

    @property
    def std(self) -> float:
        if self.family in ("normal", "scores"):
            return self.b
        if self.family == "lognormal":
            return float(np.sqrt((np.exp(self.b**2) - 1) * np.exp(2 * self.a + self.b**2)))
        if self.family == "exponential":
            return self.a
        return float(np.sqrt(self.a))


@dataclass(frozen=True)
class CategoricalSpec:
    name: str
    shares: tuple[float, ...]


@dataclass(frozen=True)
class Drift:
    kind: DriftKind
    magnitude: Magnitude

    @property
    def size(self) -> float:
        return SIZES[self.kind][self.magnitude]

    def describe(self) -> str:
        if self.kind == "mean":
            return f"mean +{self.size} std"
        if self.kind == "scale":
            return f"spread x{self.size}"
        return f"category shares moved, TVD {self.size}"


def _schema() -> tuple[tuple[NumericSpec, ...], tuple[CategoricalSpec, ...]]:
    rng = np.random.default_rng(_SCHEMA_SEED)
    numeric = []
    for i in range(N_NUMERIC):
        family = _FAMILIES[i % len(_FAMILIES)]
        if family == "normal":
            a, b = float(rng.uniform(-50, 50)), float(rng.uniform(0.5, 20))
        elif family == "lognormal":
            a, b = float(rng.uniform(0, 3)), float(rng.uniform(0.3, 1.0))
        elif family == "exponential":
            a, b = float(rng.uniform(0.5, 100)), 0.0
        elif family == "counts":
            a, b = float(rng.uniform(1.5, 12)), 0.0
        else:
            a, b = float(rng.uniform(3, 7)), float(rng.uniform(0.8, 1.5))
        missing = float(rng.uniform(0.02, 0.10)) if i % 7 == 3 else 0.0
        numeric.append(NumericSpec(f"num_{i:02d}", family, a, b, missing))
    categorical = []
    for j in range(N_CATEGORICAL):
        weights = 1.0 / np.arange(1, N_LEVELS + 1) ** rng.uniform(0.7, 1.3)
        categorical.append(CategoricalSpec(f"cat_{j}", tuple((weights / weights.sum()).tolist())))
    return tuple(numeric), tuple(categorical)


NUMERIC, CATEGORICAL = _schema()
NUMERIC_NAMES: Final = tuple(spec.name for spec in NUMERIC)
CATEGORICAL_NAMES: Final = tuple(spec.name for spec in CATEGORICAL)
FEATURES: Final = NUMERIC_NAMES + CATEGORICAL_NAMES
KINDS: Final = {**dict.fromkeys(NUMERIC_NAMES, "numeric"), **dict.fromkeys(CATEGORICAL_NAMES, "categorical")}

# Which feature drifts how: each family carries some drift, each magnitude appears for every kind;
# scale changes only on the continuous families (a count's spread follows its mean).
SCENARIO: Final[dict[str, Drift]] = {
    "num_00": Drift("mean", "large"),  # normal
    "num_06": Drift("mean", "moderate"),  # lognormal
    "num_12": Drift("mean", "small"),  # exponential
    "num_18": Drift("mean", "tiny"),  # counts
    "num_03": Drift("mean", "moderate"),  # counts, with missing values
    "num_09": Drift("mean", "small"),  # scores (rounded, ties)
    "num_24": Drift("mean", "large"),  # scores, with missing values
    "num_35": Drift("mean", "tiny"),  # normal
    "num_10": Drift("scale", "large"),  # normal, with missing values
    "num_16": Drift("scale", "moderate"),  # lognormal
    "num_22": Drift("scale", "small"),  # exponential
    "num_31": Drift("scale", "tiny"),  # lognormal, with missing values
    "num_45": Drift("scale", "small"),  # normal, with missing values
    "num_40": Drift("scale", "moderate"),  # normal
    "cat_0": Drift("shares", "large"),
    "cat_3": Drift("shares", "moderate"),
    "cat_6": Drift("shares", "small"),
    "cat_8": Drift("shares", "tiny"),
}
DRIFTED: Final = frozenset(SCENARIO)
UNCHANGED: Final = frozenset(FEATURES) - DRIFTED

Table = dict[str, npt.NDArray[np.float64] | npt.NDArray[np.str_]]


def _rng(seed: int, rows: int, role: int, feature: int) -> np.random.Generator:
    return np.random.default_rng([seed, rows, role, feature])


def _numeric(
    spec: NumericSpec, rng: np.random.Generator, rows: int, drift: Drift | None
) -> npt.NDArray[np.float64]:
    shift = drift.size * spec.std if drift is not None and drift.kind == "mean" else 0.0
    scale = drift.size if drift is not None and drift.kind == "scale" else 1.0
    if spec.family == "normal":
        values = rng.normal(spec.a, spec.b, rows)
    elif spec.family == "lognormal":
        values = rng.lognormal(spec.a, spec.b, rows)
    elif spec.family == "exponential":
        values = rng.exponential(spec.a, rows)
    elif spec.family == "counts":
        # A mean shift of k std moves lambda by k * sqrt(lambda): still counts, still tied.
        values = rng.poisson(spec.a + shift, rows).astype(np.float64)
        shift = 0.0
    else:
        values = np.round(rng.normal(spec.a + shift, spec.b * scale, rows).clip(0, 10) * 2) / 2
        shift, scale = 0.0, 1.0
    if scale != 1.0:
        values = spec.mean + (values - spec.mean) * scale
    values = values + shift
    if spec.missing:
        values[rng.random(rows) < spec.missing] = np.nan
    return values


def _moved_shares(shares: tuple[float, ...], distance: float) -> npt.NDArray[np.float64]:
    """Move ``distance`` of probability mass from the two most common levels to the rarest half."""
    moved = np.asarray(shares, dtype=np.float64).copy()
    moved[0] -= distance * 0.6
    moved[1] -= distance * 0.4
    moved[N_LEVELS // 2 :] += distance / (N_LEVELS - N_LEVELS // 2)
    return moved


def _categorical(
    spec: CategoricalSpec, rng: np.random.Generator, rows: int, drift: Drift | None
) -> npt.NDArray[np.str_]:
    shares = _moved_shares(spec.shares, drift.size) if drift is not None else np.asarray(spec.shares)
    # Inverse-CDF sampling, spelled out: one uniform per row whatever the shares, so a drifted
    # window differs from the unchanged one only where the CDF moved.
    codes = np.searchsorted(np.cumsum(shares), rng.random(rows), side="right").clip(0, N_LEVELS - 1)
    column: npt.NDArray[np.str_] = np.asarray(LEVELS, dtype=np.str_)[codes]
    return column


def _table(seed: int, rows: int, role: int, *, drifted: bool) -> Table:
    """Each feature from its own generator, so a feature's values depend on nothing else's."""
    table: Table = {}
    for index, spec in enumerate(NUMERIC):
        drift = SCENARIO.get(spec.name) if drifted else None
        table[spec.name] = _numeric(spec, _rng(seed, rows, role, index), rows, drift)
    for index, cat in enumerate(CATEGORICAL, start=N_NUMERIC):
        drift = SCENARIO.get(cat.name) if drifted else None
        table[cat.name] = _categorical(cat, _rng(seed, rows, role, index), rows, drift)
    return table


def reference(seed: int = SEED, rows: int = REFERENCE_ROWS) -> Table:
    """The reference (training) table: every feature as its baseline distribution."""
    return _table(seed, rows, 0, drifted=False)


def window(seed: int = SEED, rows: int = 10_000, *, drifted: bool = True) -> Table:
    """A current window of ``rows`` rows, with ``SCENARIO`` applied unless ``drifted`` is False.

    Both variants draw from the same generators: the unchanged features are identical in them, and a
    drifted feature differs only by its shift (the same underlying noise).
    """
    return _table(seed, rows, 1, drifted=drifted)


def fingerprint(table: Table) -> str:
    """A digest of a table's contents, to check that two environments generated the same data."""
    digest = hashlib.sha256()
    for name, column in table.items():
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(column).tobytes())
    return digest.hexdigest()[:16]


def numeric_block(table: Table) -> npt.NDArray[np.float64]:
    """The numeric features as one C-contiguous (features, rows) float64 array."""
    return np.stack([np.asarray(table[name], dtype=np.float64) for name in NUMERIC_NAMES])


def score(flagged: set[str] | frozenset[str]) -> dict[str, float | int]:
    """Precision (1.0 when nothing is flagged), recall, true/false positives against the labels."""
    true_positive = len(flagged & DRIFTED)
    false_positive = len(flagged & UNCHANGED)
    return {
        "precision": true_positive / len(flagged) if flagged else 1.0,
        "recall": true_positive / len(DRIFTED),
        "true_positive": true_positive,
        "false_positive": false_positive,
    }


def found_by_magnitude(flagged: set[str] | frozenset[str]) -> dict[str, int]:
    """How many drifted features of each magnitude were flagged."""
    return {m: sum(1 for f, d in SCENARIO.items() if d.magnitude == m and f in flagged) for m in MAGNITUDES}
