"""Distribution functions for the drift statistics, in numpy and the standard library only.

The drift function must start cold within a tight import budget, and ``scipy.stats`` alone costs
about a second to import. This module reproduces the two scipy results the statistics need:

* ``ks_2samp_pvalue``: the two-sided p-value of ``scipy.stats.ks_2samp(x, y, method="auto")``,
  from the statistic and the two sample sizes;
* ``chi2_sf``: ``scipy.stats.chi2.sf``, the chi-square survival function.

Provenance. The Kolmogorov-Smirnov code ports scipy 1.17 (BSD-3-Clause, Copyright (c) 2001-2002
Enthought, Inc. 2003, SciPy Developers): ``scipy.stats._stats_py.ks_2samp``,
``_attempt_exact_2kssamp``, ``_compute_prob_outside_square``,
``scipy.stats._stats_pythran._compute_outer_prob_inside_method``, ``scipy.stats._ksstats._kolmogn``
with ``_kolmogn_DMTW``, ``_kolmogn_Pomeranz``, ``_kolmogn_PelzGood`` and
``_log_nfactorial_div_n_pow_n``, and the one-sided Smirnov survival function of
``scipy.special.smirnov`` (xsf ``cephes/kolmogorov.h``). Branches, thresholds and fallbacks are
scipy's; where the arithmetic differs it is said below, and the results agree with scipy's to
about 1e-10 relative (see ``tests/unit/science/test_distributions.py``).

Where the arithmetic differs from scipy
    * Exact path, unequal sizes. scipy runs Viehmann's recursion for the proportion of lattice
      paths that leave the band, one cell at a time in compiled code. Small lattices
      (``n1 * n2 <= 2500``) run that loop as it is, bit for bit. Larger ones compute the same quantity
      as a *count* of leaving paths, ``U(i, j) = U(i - 1, j) + U(i, j - 1)`` inside the
      band and ``C(i + j, j)`` outside it, one numpy prefix sum per lattice column (iterating over
      the smaller sample), with a running log-scale per column (and per segment of the column
      when its dynamic range is too wide for one float64 scale). All terms are positive, so the
      p-value keeps its relative accuracy in the far tail, as scipy's does.
    * Asymptotic path. ``n!/n**n`` in the Durbin matrix method is applied through its Stirling
      logarithm instead of an ``n``-step loop for ``n > 140``; Smirnov's sum is evaluated in
      float64 logarithms (scipy uses double-double arithmetic), always as the lower, positive-term
      sum (scipy's alternative upper sum is only chosen for statistics ``kstwo`` never passes it).
"""

from __future__ import annotations

import math
import warnings
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "KS_MAX_EXACT_N",
    "chi2_sf",
    "ks_2samp_pvalue",
    "ks_2samp_pvalues",
    "kstwo_sf",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

KS_MAX_EXACT_N: Final = 10_000
"""scipy's ``MAX_AUTO_N``: ``method="auto"`` is exact when both samples have at most this size."""


# --- Two-sample Kolmogorov-Smirnov p-value ------------------------------------------------------


def ks_2samp_pvalue(statistic: float, n1: int, n2: int) -> float:
    """Two-sided p-value of the two-sample KS ``statistic`` for samples of sizes ``n1`` and ``n2``.

    Same semantics as ``scipy.stats.ks_2samp(x, y, method="auto").pvalue`` given
    ``statistic = D``:

    * both sizes at most ``KS_MAX_EXACT_N``: the exact null distribution. ``D`` is first snapped
      to the lattice of attainable values, ``h / lcm(n1, n2)``; ``h == 0`` gives 1. Should the
      exact computation fail, a ``RuntimeWarning`` is issued and the asymptotic path used.
    * otherwise: ``kstwo.sf(D, round(n1 * n2 / (n1 + n2)))``.

    The result is clipped to [0, 1].
    """
    d = float(statistic)
    if math.isnan(d) or not 0.0 <= d <= 1.0:
        raise ValueError(f"a KS statistic lies in [0, 1], not {statistic!r}")
    n1, n2 = _sample_size(n1), _sample_size(n2)
    if max(n1, n2) <= KS_MAX_EXACT_N:
        success, d, pvalue = _attempt_exact(n1, n2, d)
        if success:
            return min(max(pvalue, 0.0), 1.0)
        warnings.warn(
            "ks_2samp: Exact calculation unsuccessful. Switching to method=asymp.",
            RuntimeWarning,
            stacklevel=2,
        )
    larger, smaller = max(float(n1), float(n2)), min(float(n1), float(n2))
    effective_n = larger * smaller / (larger + smaller)
    return min(max(kstwo_sf(d, round(effective_n)), 0.0), 1.0)


def ks_2samp_pvalues(statistics: npt.ArrayLike, n1: npt.ArrayLike, n2: npt.ArrayLike) -> FloatArray:
    """``ks_2samp_pvalue`` over broadcast arrays of statistics and sample sizes (a plain loop)."""
    d, sizes1, sizes2 = np.broadcast_arrays(
        np.asarray(statistics, dtype=np.float64), np.asarray(n1), np.asarray(n2)
    )
    out = np.empty(d.shape, dtype=np.float64)
    for index in np.ndindex(d.shape):
        out[index] = ks_2samp_pvalue(float(d[index]), int(sizes1[index]), int(sizes2[index]))
    return out


def _sample_size(n: int) -> int:
    size = int(n)
    if size != n or size < 1:
        raise ValueError(f"a sample size is a positive integer, not {n!r}")
    return size


def _attempt_exact(n1: int, n2: int, d: float) -> tuple[bool, float, float]:
    """scipy's ``_attempt_exact_2kssamp`` (two-sided): ``(success, lattice statistic, p-value)``."""
    g = math.gcd(n1, n2)
    lcm = (n1 // g) * n2
    h = round(d * lcm)
    d = h / lcm
    if h == 0:
        return True, d, 1.0
    with np.errstate(over="ignore", under="ignore"):
        pvalue = _prob_outside_square(n1, h) if n1 == n2 else _prob_outside_band(n1, n2, g, h)
    if not 0.0 <= pvalue <= 1.0:  # also catches NaN
        return False, d, pvalue
    return True, d, pvalue


def _prob_outside_square(n: int, h: int) -> float:
    """scipy's ``_compute_prob_outside_square``: ``P(D_{n,n} >= h/n)``.

    ``2 * A0 * (1 - A1 * (1 - A2 * (...)))`` where ``Ak`` is a product of ``h`` ratios; the products
    are vectorised, the Horner loop is scipy's.
    """
    k_max = n // h
    offsets = np.arange(k_max + 1, dtype=np.float64)[:, None] * h + np.arange(h, dtype=np.float64)
    products = np.prod((n - offsets) / (n + offsets + 1.0), axis=1)
    nonzero = np.flatnonzero(products)  # trailing zero terms leave the sum at 0
    p = 0.0
    if nonzero.size:
        for factor in products[: nonzero[-1] + 1][::-1].tolist():
            p = factor * (1.0 - p)
    return 2.0 * p


# The band method keeps each stretch of a lattice column within this log-range of one scale, and
# lets a scale drift this far before re-centring it: e**(560 + 60) * 1e4 * 1e4 stays below the
# float64 maximum, so nothing overflows, and what underflows is below 1e-300 of a proportion.
_SEGMENT_LOG_RANGE: Final = 560.0
_SCALE_DRIFT: Final = 60.0


# Up to this many lattice cells (n1 * n2 bounds them) scipy's cell-by-cell loop is the faster one.
_CELLWISE_MAX: Final = 2500


def _prob_outside_band(n1: int, n2: int, g: int, h: int) -> float:
    """scipy's ``_compute_outer_prob_inside_method``: the proportion of lattice paths from (0, 0) to
    (m, n) that touch or leave the band ``|n * x - m * y| < h * g`` (``g = gcd(m, n)``).

    Small lattices run scipy's loop as it is (``_prob_outside_band_cellwise``). Otherwise, column
    ``i`` (one per element of the smaller sample) holds the cells ``lo[i] <= j < hi[i]`` inside the
    band (scipy's ``minj``/``maxj``). ``U(i, j)``, the number of paths to ``(i, j)`` that have left
    the band, is ``C(i + j, j)`` outside it and ``U(i - 1, j) + U(i, j - 1)`` inside, so a column is
    a prefix sum of the previous column's values. They are stored as
    ``U(i, j) * exp(-scale)`` in one buffer indexed by ``j``, updated in place:

    * a *piece* is a column's cells within one segment of ``j`` (usually one piece per column);
    * a piece's scale grows by ``log(i)`` per column, which makes the carried values need no
      rescaling; it is re-centred on ``log C(i + lo, lo)`` when it has drifted by
      ``_SCALE_DRIFT``;
    * cells entering the band from above (``U = C(i - 1 + j, j)``) are written in advance, the cell
      below the band (``U = C(i + lo - 1, lo - 1)``) and the carry between pieces are added to the
      first cell of the piece before its prefix sum.
    """
    if n1 * n2 <= _CELLWISE_MAX:
        return _prob_outside_band_cellwise(n1, n2, g, h)
    m, n = min(n1, n2), max(n1, n2)
    mg, ng = m // g, n // g
    lf = _log_factorials(m + n + 1)
    cols = np.arange(m + 1, dtype=np.int64)
    lo = np.minimum(np.maximum((ng * cols - h) // mg + 1, 0), n)
    hi = np.minimum(-(-(ng * cols + h) // mg), n + 1)
    if np.any(hi[1:] <= lo[1:]):
        return 1.0

    bounds = _band_segments(m, n, mg, ng, h, lf, cols, lo, hi)
    # pieces, ordered by column then segment
    seg_first = np.searchsorted(bounds, lo[1:], side="right") - 1
    seg_last = np.searchsorted(bounds, hi[1:] - 1, side="right") - 1
    counts = seg_last - seg_first + 1
    n_pieces = int(counts.sum())
    piece_start = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(n_pieces) - np.repeat(piece_start, counts)
    col = np.repeat(cols[1:], counts)
    seg = np.repeat(seg_first, counts) + rank
    q0 = np.maximum(lo[col], bounds[seg])
    q1 = np.minimum(hi[col], bounds[seg + 1])

    # scales: re-centred (anchor) pieces use log C(i + q0, q0) + log(i!), the others drift by log(i)
    ideal = lf[col + q0] - lf[q0]
    drift = ideal - lf[col]  # log C(i + q0, q0): non-decreasing along a segment
    order = np.lexsort((col, seg))
    seg_sorted, drift_sorted = seg[order], drift[order]
    index = np.arange(n_pieces)
    new_segment = np.ones(n_pieces, dtype=bool)
    new_segment[1:] = seg_sorted[1:] != seg_sorted[:-1]
    segment_start = np.maximum.accumulate(np.where(new_segment, index, 0))
    bucket = np.floor((drift_sorted - drift_sorted[segment_start]) / _SCALE_DRIFT)
    recentre_sorted = new_segment.copy()
    recentre_sorted[1:] |= bucket[1:] != bucket[:-1]
    anchor_sorted = order[np.maximum.accumulate(np.where(recentre_sorted, index, 0))]
    anchor = np.empty(n_pieces, dtype=np.int64)
    anchor[order] = anchor_sorted
    scale = ideal[anchor] + (lf[col] - lf[col[anchor]])
    # a re-centred piece multiplies the carried values by exp(predicted - new scale)
    previous_in_segment = np.full(n_pieces, -1, dtype=np.int64)
    previous_in_segment[order[1:]] = np.where(new_segment[1:], -1, order[:-1])
    recentre = np.zeros(n_pieces, dtype=bool)
    recentre[order] = recentre_sorted
    rescaled = recentre & (previous_in_segment >= 0)
    before = anchor[np.maximum(previous_in_segment, 0)]
    predicted = ideal[before] + (lf[col] - lf[col[before]])
    factor = np.where(rescaled, np.exp(np.where(rescaled, predicted - scale, 0.0)), 1.0)
    overlap_end = np.minimum(q1, hi[col - 1])
    rescaled &= overlap_end > q0

    # what enters the first cell of a piece: the cell below the band, or the previous piece's carry
    first = rank == 0
    below = lo[col]
    below_term = np.where(
        first & (below > 0),
        np.exp(lf[col + below - 1] - lf[np.maximum(below - 1, 0)] - scale),
        0.0,
    )
    carry_factor = np.zeros(n_pieces)
    carry_factor[~first] = np.exp(scale[np.flatnonzero(~first) - 1] - scale[~first])

    # cells entering from above: i * exp(log C(i - 1 + k, k) + log((i - 1)!) - scale)
    enter_from = np.maximum(q0, hi[col - 1])
    enter_count = np.maximum(q1 - enter_from, 0)
    enter_piece = np.repeat(index, enter_count)
    enter_offset = np.concatenate(([0], np.cumsum(enter_count)[:-1]))
    k = np.repeat(enter_from, enter_count) + (
        np.arange(enter_piece.size) - np.repeat(enter_offset, enter_count)
    )
    i_k = col[enter_piece]
    values = np.zeros(n + 2)
    values[k] = np.exp(np.log(i_k) + lf[i_k - 1 + k] - lf[k] - scale[enter_piece])

    accumulate, multiply = np.add.accumulate, np.multiply
    carry = 0.0
    for a, b, ov, mult, do_mult, c_in, c_carry in zip(
        q0.tolist(),
        q1.tolist(),
        overlap_end.tolist(),
        factor.tolist(),
        rescaled.tolist(),
        below_term.tolist(),
        carry_factor.tolist(),
        strict=True,
    ):
        if do_mult:
            stretch = values[a:ov]
            multiply(stretch, mult, stretch)
        values[a] += c_in + carry * c_carry
        stretch = values[a:b]
        accumulate(stretch, 0, None, stretch)
        carry = values.item(b - 1)
    # U(m, n) / C(m + n, n) = z * exp(scale - log((m + n)! / n!))
    return min(1.0, values.item(n) * math.exp(float(scale[-1] - (lf[m + n] - lf[n]))))


def _prob_outside_band_cellwise(m: int, n: int, g: int, h: int) -> float:
    """scipy's ``_compute_outer_prob_inside_method`` line by line: Viehmann's recursion for the
    proportion of paths that have left the band, one cell at a time, over the larger sample."""
    if m < n:
        m, n = n, m
    mg, ng = m // g, n // g
    minj, maxj = 0, min(-(-h // mg), n + 1)
    curlen = maxj - minj
    length = min(2 * maxj + 2, n + 1)
    a = [0.0] * maxj + [1.0] * (length - maxj)
    for i in range(1, m + 1):
        lastminj, lastlen = minj, curlen
        minj = min(max((ng * i - h) // mg + 1, 0), n)
        maxj = min(-(-(ng * i + h) // mg), n + 1)
        if maxj <= minj:
            return 1.0
        val = 0.0 if minj == 0 else 1.0
        shift = minj - lastminj
        for jj in range(maxj - minj):
            j = jj + minj
            val = (a[jj + shift] * i + val * j) / (i + j)
            a[jj] = val
        curlen = maxj - minj
        if lastlen > curlen:
            a[curlen:lastlen] = [1.0] * (lastlen - curlen)
    return a[maxj - minj - 1]


def _band_segments(
    m: int,
    n: int,
    mg: int,
    ng: int,
    h: int,
    lf: FloatArray,
    cols: IntArray,
    lo: IntArray,
    hi: IntArray,
) -> IntArray:
    """Breakpoints in ``j`` so that, in every column, ``log C(i + j, j)`` varies by at most
    ``_SEGMENT_LOG_RANGE`` within a segment: ``[0, n + 1]`` (one segment) in all but extreme cases.
    """
    span = (lf[cols + hi - 1] - lf[hi - 1]) - (lf[cols + lo] - lf[lo])
    if float(span[1:].max()) <= _SEGMENT_LOG_RANGE:
        return np.array([0, n + 1], dtype=np.int64)
    j = np.arange(1, n + 1, dtype=np.int64)
    last_col = np.minimum(m, -(-(mg * j + h) // ng) - 1)  # the last column whose band holds j
    growth = np.cumsum(np.log1p(np.maximum(last_col, 0) / j))  # bounds d/dj log C(i + j, j)
    bucket = np.floor(growth / _SEGMENT_LOG_RANGE)
    starts = j[1:][bucket[1:] != bucket[:-1]]
    return np.concatenate(([0], starts, [n + 1])).astype(np.int64)


_LOG_FACTORIAL_CACHE: list[FloatArray] = []


def _log_factorials(n: int) -> FloatArray:
    """``log(k!)`` for ``k = 0..n`` (at least), cached."""
    if not _LOG_FACTORIAL_CACHE or _LOG_FACTORIAL_CACHE[0].size <= n:
        size = max(n + 1, 2 * _LOG_FACTORIAL_CACHE[0].size if _LOG_FACTORIAL_CACHE else 0, 1024)
        _LOG_FACTORIAL_CACHE[:] = [_log_factorial(np.arange(size, dtype=np.float64))]
    return _LOG_FACTORIAL_CACHE[0]


_STIRLING_SMALL: Final = 30


def _log_factorial(k: FloatArray) -> FloatArray:
    """``log(k!) = lgamma(k + 1)`` elementwise for non-negative integer values (Stirling's series
    from 30 on, within a few ulp of ``math.lgamma``)."""
    x = np.maximum(k, _STIRLING_SMALL) + 1.0
    r = 1.0 / x
    r2 = r * r
    series = r * (1 / 12 - r2 * (1 / 360 - r2 * (1 / 1260 - r2 * (1 / 1680 - r2 / 1188))))
    out = (x - 0.5) * np.log(x) - x + 0.5 * math.log(2 * math.pi) + series
    small = k < _STIRLING_SMALL
    if np.any(small):
        table = np.array([math.lgamma(j + 1.0) for j in range(_STIRLING_SMALL)])
        out[small] = table[k[small].astype(np.int64)]
    return out


# --- One-sample two-sided KS distribution (scipy.stats.kstwo) -----------------------------------


def kstwo_sf(d: float, n: int) -> float:
    """``scipy.stats.kstwo.sf(d, n)``: ``P(D_n >= d)`` for the two-sided one-sample KS statistic.

    This is the asymptotic path of ``ks_2samp`` (with ``n`` the rounded effective sample size).
    Follows scipy's ``_kolmogn``: Ruben-Gambino closed forms at the ends, the exact Smirnov sum for
    ``d >= 0.5`` and the upper tail, the Durbin matrix or Pomeranz recursion for ``n <= 140`` and
    the Durbin matrix or Pelz-Good expansion (for ``1 - cdf``) otherwise.
    """
    x = float(d)
    if math.isnan(x) or n < 1 or int(n) != n:
        return math.nan
    n = int(n)
    if x <= 0.5 / n:  # below the support
        return 1.0
    if x >= 1.0:
        return 0.0
    t = n * x
    if t <= 1.0:  # Ruben-Gambino: 1/(2n) <= x <= 1/n
        if n <= 140:
            cdf = float(np.prod(np.arange(1, n + 1) * (1.0 / n) * (2 * t - 1)))
        else:
            cdf = math.exp(_log_nfactorial_div_n_pow_n(n) + n * math.log(2 * t - 1))
        return _clip(1.0 - cdf)
    if t >= n - 1:  # Ruben-Gambino
        return _clip(2 * (1.0 - x) ** n)
    if x >= 0.5:  # exact: twice the one-sided tail
        return _clip(2 * _smirnov_sf(n, x))
    nxsquared = t * x
    if n <= 140:
        if nxsquared <= 0.754693:
            return _clip(1.0 - _kolmogn_dmtw(n, x))
        if nxsquared <= 4:
            return _clip(1.0 - _kolmogn_pomeranz(n, x))
        return _clip(2 * _smirnov_sf(n, x))
    if nxsquared >= 370.0:
        return 0.0
    if nxsquared >= 2.2:
        return _clip(2 * _smirnov_sf(n, x))
    if n <= 100_000 and n * x**1.5 <= 1.4:
        return _clip(1.0 - _kolmogn_dmtw(n, x))
    return _clip(1.0 - _kolmogn_pelz_good(n, x))


def _clip(p: float) -> float:
    return min(max(p, 0.0), 1.0)


_E128: Final = 128
_P128: Final = 2.0**128
_M128: Final = 2.0**-128
# B_{2j} / (2j) / (2j - 1) for j = 8..1 (scipy's _STIRLING_COEFFS)
_STIRLING_COEFFS: Final = (
    -2.955065359477124183e-2,
    6.4102564102564102564e-3,
    -1.9175269175269175269e-3,
    8.4175084175084175084e-4,
    -5.952380952380952381e-4,
    7.9365079365079365079e-4,
    -2.7777777777777777778e-3,
    8.3333333333333333333e-2,
)


def _log_nfactorial_div_n_pow_n(n: int) -> float:
    """``log(n! / n**n)`` by Stirling's series with ``n * log(n)`` removed up front."""
    rn = 1.0 / n
    x = rn / n
    poly = 0.0
    for coefficient in _STIRLING_COEFFS:
        poly = poly * x + coefficient
    return math.log(n) / 2 - n + math.log(2 * math.pi) / 2 + rn * poly


def _kolmogn_dmtw(n: int, d: float) -> float:
    """``P(D_n <= d)`` by Durbin's matrix method as Marsaglia, Tsang and Wang compute it."""
    if d >= 1.0:
        return 1.0
    nd = n * d
    if nd <= 0.5:
        return 0.0
    k = math.ceil(nd)
    h = k - nd
    m = 2 * k - 1
    powers = np.arange(1, m + 1)
    v = 1.0 - h**powers
    w = np.empty(m)
    fac = 1.0
    for j in range(1, m + 1):
        w[j - 1] = fac
        fac /= j
        v[j - 1] *= fac
    tt = max(2 * h - 1.0, 0.0) ** m - 2 * h**m
    v[-1] = (1.0 + tt) * fac
    big = np.zeros((m, m))
    for i in range(1, m):
        big[i - 1 :, i] = w[: m - i + 1]
    big[:, 0] = v
    big[-1, :] = v[::-1]

    power = np.eye(m)
    remaining, exponent, big_exponent = n, 0, 0
    while remaining > 0:
        if remaining % 2:
            power = power @ big
            exponent += big_exponent
        big = big @ big
        big_exponent *= 2
        if abs(big[k - 1, k - 1]) > _P128:
            big /= _P128
            big_exponent += _E128
        remaining //= 2
    p = float(power[k - 1, k - 1])
    # multiply by n!/n**n (scipy loops over i = 1..n; for large n use its Stirling logarithm)
    if n <= 140:
        for i in range(1, n + 1):
            p = i * p / n
            if abs(p) < _M128:
                p *= _P128
                exponent -= _E128
        return _clip(math.ldexp(p, exponent))
    if p <= 0.0:
        return 0.0
    log2_p = math.log2(p) + exponent + _log_nfactorial_div_n_pow_n(n) / math.log(2)
    whole = math.floor(log2_p)
    return _clip(math.ldexp(2.0 ** (log2_p - whole), whole))


def _pomeranz_j1j2(i: int, n: int, ll: int, ceilf: int, roundf: int) -> tuple[int, int]:
    if i == 0:
        j1, j2 = -ll - ceilf - 1, ll + ceilf - 1
    else:
        ip1div2, ip1mod2 = divmod(i + 1, 2)
        if ip1mod2 == 0:  # i is odd
            if ip1div2 == n + 1:
                j1, j2 = n - ll - ceilf - 1, n + ll + ceilf - 1
            else:
                j1, j2 = ip1div2 - 1 - ll - roundf - 1, ip1div2 + ll - 1 + ceilf - 1
        else:
            j1, j2 = ip1div2 - 1 - ll - 1, ip1div2 + ll + roundf - 1
    return max(j1 + 2, 0), min(j2, n)


def _kolmogn_pomeranz(n: int, x: float) -> float:
    """``P(D_n <= x)`` by Pomeranz's recursion (scipy's ``_kolmogn_Pomeranz``)."""
    t = n * x
    ll = math.floor(t)
    f = 1.0 * (t - ll)
    g = min(f, 1.0 - f)
    ceilf = 1 if f > 0 else 0
    roundf = 1 if f > 0.5 else 0
    npwrs = 2 * (ll + 1)
    gpower = np.empty(npwrs)
    twogpower = np.empty(npwrs)
    onem2gpower = np.empty(npwrs)
    gpower[0] = twogpower[0] = onem2gpower[0] = 1.0
    expnt = 0
    g_over_n, two_g_over_n, one_minus_two_g_over_n = g / n, 2 * g / n, (1 - 2 * g) / n
    for m in range(1, npwrs):
        gpower[m] = gpower[m - 1] * g_over_n / m
        twogpower[m] = twogpower[m - 1] * two_g_over_n / m
        onem2gpower[m] = onem2gpower[m - 1] * one_minus_two_g_over_n / m

    v0 = np.zeros(npwrs)
    v1 = np.zeros(npwrs)
    v1[0] = 1
    v0s, v1s = 0, 0
    j1, j2 = _pomeranz_j1j2(0, n, ll, ceilf, roundf)
    for i in range(1, 2 * n + 2):
        k1 = j1
        v0, v1 = v1, v0
        v0s, v1s = v1s, v0s
        v1.fill(0.0)
        j1, j2 = _pomeranz_j1j2(i, n, ll, ceilf, roundf)
        pwrs = gpower if i in (1, 2 * n + 1) else (twogpower if i % 2 else onem2gpower)
        ln2 = j2 - k1 + 1
        if ln2 > 0:
            conv = np.convolve(v0[k1 - v0s : k1 - v0s + ln2], pwrs[:ln2])
            conv_start = j1 - k1
            conv_len = j2 - j1 + 1
            v1[:conv_len] = conv[conv_start : conv_start + conv_len]
            if 0 < np.max(v1) < _M128:
                v1 *= _P128
                expnt -= _E128
            v1s = v0s + j1 - k1
    ans = float(v1[n - v1s])
    for m in range(1, n + 1):
        if abs(ans) > _P128:
            ans *= _M128
            expnt += _E128
        ans *= m
    if expnt != 0:
        ans = math.ldexp(ans, expnt)
    return _clip(ans)


_PI_SQUARED: Final = math.pi**2
_PI_FOUR: Final = math.pi**4
_PI_SIX: Final = math.pi**6
_SQRT2PI: Final = math.sqrt(2 * math.pi)
_SQRT3: Final = math.sqrt(3)
_MIN_LOG: Final = -708


def _kolmogn_pelz_good(n: int, x: float) -> float:
    """Pelz-Good approximation to ``P(D_n <= x)`` (unclipped, as scipy's ``_kolmogn_PelzGood``)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    z = math.sqrt(n) * x
    zsquared, zthree, zfour, zsix = z**2, z**3, z**4, z**6
    qlog = -_PI_SQUARED / 8 / zsquared
    if qlog < _MIN_LOG:
        return 0.0
    q = math.exp(qlog)
    k1a = -zsquared
    k1b = _PI_SQUARED / 4
    k2a = 6 * zsix + 2 * zfour
    k2b = (2 * zfour - 5 * zsquared) * _PI_SQUARED / 4
    k2c = _PI_FOUR * (1 - 2 * zsquared) / 16
    k3d = _PI_SIX * (5 - 30 * zsquared) / 64
    k3c = _PI_FOUR * (-60 * zsquared + 212 * zfour) / 16
    k3b = _PI_SQUARED * (135 * zfour - 96 * zsix) / 4
    k3a = -30 * zsix - 90 * z**8

    terms = np.zeros(4)
    maxk = math.ceil(16 * z / math.pi)
    for k in range(maxk, 0, -1):
        m = 2 * k - 1
        msquared, mfour, msix = m**2, m**4, m**6
        qpower = q ** (8 * k)
        coeffs = np.array(
            [
                1.0,
                k1a + k1b * msquared,
                k2a + k2b * msquared + k2c * mfour,
                k3a + k3b * msquared + k3c * mfour + k3d * msix,
            ]
        )
        terms *= qpower
        terms += coeffs
    terms *= q
    terms *= _SQRT2PI
    terms /= np.array([z, 6 * zfour, 72 * z**7, 6480 * z**10])

    q = math.exp(-_PI_SQUARED / 2 / zsquared)
    ks = np.arange(maxk, 0, -1)
    ksquared = ks**2
    sqrt3z = _SQRT3 * z
    kspi = math.pi * ks
    qpwers = q**ksquared
    k2extra = float(np.sum(ksquared * qpwers)) * _PI_SQUARED * _SQRT2PI / (-36 * zthree)
    terms[2] += k2extra
    k3extra = float(np.sum((sqrt3z + kspi) * (sqrt3z - kspi) * ksquared * qpwers))
    terms[3] += k3extra * _PI_SQUARED * _SQRT2PI / (216 * zsix)
    terms /= np.power(n * 1.0, np.arange(4) / 2.0)
    return float(sum(terms.tolist()))


# --- One-sided Smirnov survival function (scipy.special.smirnov) --------------------------------

_MINLOG: Final = -7.451332191019412076235e2  # log(2**-1075), cephes' MINLOG
_SMIRNOV_MAX_COMPUTE_N: Final = 1_000_000
_SMIRNOV_CHUNK: Final = 256
_SMIRNOV_MAX_CHUNK: Final = 8192  # 64 KiB temporaries: larger ones cost a fresh mmap each
_SMIRNOV_WINDOW: Final = 60.0  # terms below e**-60 of the largest are left out of a long sum
_SMIRNOV_GRID: Final = 1025


def _smirnov_sf(n: int, x: float) -> float:
    """``scipy.special.smirnov(n, x)``: ``P(D_n^+ >= x)`` for the one-sided KS statistic.

    Birnbaum-Tingey: ``x * sum_{v=0}^{n - floor(nx) - 1} A_v`` with
    ``A_v = C(n, v) (x + v/n)**(v-1) (1 - x - v/n)**(n-v)``, and cephes' special cases and its
    approximation for ``n > 1_000_000``. Short sums stop as cephes' do (once the remaining terms
    are negligible). When ``n x**2 > 1`` (every case ``kstwo`` passes here) ``log A_v`` is concave
    in ``v``, and a long sum is taken over the window of terms within ``e**-60`` of the largest,
    located on a coarse grid: the same value, in a fraction of the time for large ``n``.
    """
    if not (n > 0 and 0.0 <= x <= 1.0):
        return math.nan
    if n == 1:
        return 1.0 - x
    if x == 0.0:
        return 1.0
    if x == 1.0:
        return 0.0
    nxfl, alpha = _floor_and_fraction(n, x)
    if nxfl == 0 or (nxfl == 1 and alpha == 0):  # x <= 1/n
        return 1.0 - x * math.exp((n - 1) * math.log1p(x))
    if -2 * n * x * x < _MINLOG:
        return 0.0
    if nxfl >= n - 1:  # x >= 1 - 1/n
        return math.exp(n * math.log1p(-x))
    if n > _SMIRNOV_MAX_COMPUTE_N:
        logp = -((6.0 * n * x + 1) ** 2) / 18.0 / n
        if logp < -math.log(2):
            return math.exp(logp)
        return 1 - (-math.expm1(logp))
    n_terms = n - nxfl  # v = 0 .. n - floor(n x) - 1

    def log_terms(v: FloatArray) -> FloatArray:
        # x + v/n = (floor(nx) + v + alpha)/n and 1 - x - v/n = (n - v - floor(nx) - alpha)/n
        log_n = math.log(n)
        return (
            _log_binomial(n, v)
            + (v - 1) * (np.log(nxfl + v + alpha) - log_n)
            + (n - v) * (np.log((n - nxfl - v) - alpha) - log_n)
        )

    if n * x * x > 1.0 and n_terms > 4 * _SMIRNOV_GRID:
        grid = np.unique(np.round(np.linspace(0.0, n_terms - 1.0, _SMIRNOV_GRID)))
        on_grid = log_terms(grid)
        kept = np.flatnonzero(on_grid >= on_grid.max() - _SMIRNOV_WINDOW)
        first = int(grid[max(int(kept[0]) - 1, 0)])
        last = int(grid[min(int(kept[-1]) + 1, grid.size - 1)])
        total = 0.0
        for start in range(first, last + 1, _SMIRNOV_MAX_CHUNK):
            v = np.arange(start, min(last + 1, start + _SMIRNOV_MAX_CHUNK), dtype=np.float64)
            total += float(np.sum(np.exp(log_terms(v))))
        return _clip(x * total)

    vmid = n // 2
    total = 0.0
    start = 0
    chunk = _SMIRNOV_CHUNK
    eps = np.finfo(np.float64).eps
    while start < n_terms:
        stop = min(n_terms, start + chunk)
        v = np.arange(start, stop, dtype=np.float64)
        terms = np.exp(log_terms(v))
        sums = total + np.cumsum(np.where(np.isfinite(terms), terms, 0.0))
        j = np.arange(start, stop)
        stop_here = np.where(
            terms != 0.0,
            (4 * (n_terms - j) * terms < eps * sums) & (j != n_terms - 1) & (j > 0),
            j > vmid,
        )
        hit = np.flatnonzero(stop_here)
        if hit.size:
            total = float(sums[hit[0]])
            break
        total = float(sums[-1])
        start = stop
        chunk = min(2 * chunk, _SMIRNOV_MAX_CHUNK)
    return _clip(x * total)


def _log_binomial(n: int, v: FloatArray) -> FloatArray:
    """``log C(n, v)`` for integer-valued ``0 <= v <= n``, without cancelling large log-factorials:
    ``v log(n/v) - (n - v) log1p(-v/n) - log(2 pi v (n - v) / n) / 2`` plus Stirling corrections."""
    inner = (v > 0) & (v < n)
    w = np.where(inner, v, 1.0)
    rest = n - w
    out = (
        w * np.log(n / w)
        - rest * np.log1p(-w / n)
        - 0.5 * np.log(2 * math.pi * w * rest / n)
        + (_stirling_error(np.array([float(n)]))[0] - _stirling_error(w) - _stirling_error(rest))
    )
    return np.where(inner, out, 0.0)


def _stirling_error(k: FloatArray) -> FloatArray:
    """``log(k!) - (k + 1/2) log(k) + k - log(2 pi)/2`` for integer-valued ``k >= 1``."""
    x = np.maximum(k, _STIRLING_SMALL)
    r = 1.0 / x
    r2 = r * r
    out = r * (1 / 12 - r2 * (1 / 360 - r2 * (1 / 1260 - r2 * (1 / 1680 - r2 / 1188))))
    small = k < _STIRLING_SMALL
    if np.any(small):
        out[small] = _small_stirling_errors()[k[small].astype(np.int64)]
    return out


_SMALL_STIRLING_ERRORS: list[FloatArray] = []


def _small_stirling_errors() -> FloatArray:
    if not _SMALL_STIRLING_ERRORS:
        table = [0.0] + [
            math.lgamma(j + 1.0) - (j + 0.5) * math.log(j) + j - 0.5 * math.log(2 * math.pi)
            for j in range(1, _STIRLING_SMALL)
        ]
        _SMALL_STIRLING_ERRORS.append(np.array(table))
    return _SMALL_STIRLING_ERRORS[0]


def _floor_and_fraction(n: int, x: float) -> tuple[int, float]:
    """``floor(n * x)`` and the fractional part, exactly (cephes' ``modNX``)."""
    numerator, denominator = x.as_integer_ratio()
    whole, rest = divmod(n * numerator, denominator)
    alpha = rest / denominator
    if alpha == 1.0:
        return whole + 1, 0.0
    return whole, alpha


# --- Chi-square survival function ---------------------------------------------------------------


def chi2_sf(x: float, dof: float) -> float:
    """``scipy.stats.chi2.sf(x, dof)``: the regularized upper incomplete gamma ``Q(dof/2, x/2)``.

    A power series for ``P = 1 - Q`` when ``x/2 < dof/2 + 1``, otherwise a continued fraction for
    ``Q`` (modified Lentz), each prefactor computed in logarithms. 1 for ``x <= 0``, 0 at
    ``+inf``, NaN for NaN input or ``dof <= 0``.
    """
    x, a = float(x), float(dof) / 2.0
    if math.isnan(x) or math.isnan(a) or a <= 0.0:
        return math.nan
    if x <= 0.0:
        return 1.0
    if math.isinf(x):
        return 0.0
    y = x / 2.0
    if y < a + 1.0:
        return _clip(1.0 - _gamma_p_series(a, y))
    return _clip(_gamma_q_continued_fraction(a, y))


_GAMMA_EPS: Final = 1e-16
_GAMMA_TINY: Final = 1e-300


def _gamma_p_series(a: float, y: float) -> float:
    """``P(a, y) = y**a e**-y / Gamma(a + 1) * sum_k y**k / ((a + 1) ... (a + k))``."""
    log_prefactor = a * math.log(y) - y - math.lgamma(a + 1.0)
    term = total = 1.0
    denominator = a
    for _ in range(_max_gamma_iterations(a)):
        denominator += 1.0
        term *= y / denominator
        total += term
        if term < total * _GAMMA_EPS:
            break
    return total * math.exp(log_prefactor)


def _gamma_q_continued_fraction(a: float, y: float) -> float:
    """``Q(a, y) = y**a e**-y / Gamma(a) * 1 / (y + 1 - a - 1 (1 - a) / (y + 3 - a - ...))``."""
    log_prefactor = a * math.log(y) - y - math.lgamma(a)
    b = y + 1.0 - a
    c = 1.0 / _GAMMA_TINY
    d = 1.0 / b
    fraction = d
    for i in range(1, _max_gamma_iterations(a) + 1):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _GAMMA_TINY:
            d = _GAMMA_TINY
        c = b + an / c
        if abs(c) < _GAMMA_TINY:
            c = _GAMMA_TINY
        d = 1.0 / d
        delta = d * c
        fraction *= delta
        if abs(delta - 1.0) < _GAMMA_EPS:
            break
    return fraction * math.exp(log_prefactor)


def _max_gamma_iterations(a: float) -> int:
    return 200 + int(20 * math.sqrt(a))
