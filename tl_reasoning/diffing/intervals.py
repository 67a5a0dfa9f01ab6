"""Uncertainty of presence fractions: Wilson binomial intervals, a bootstrap interval of the
difference between two fractions and Fisher's exact test (no SciPy needed).

A presence fraction is ``x`` present out of ``n`` features; with a few hundred features the
binomial error is several percentage points, so every reported fraction carries an interval.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

__all__ = ["bootstrap_difference", "fisher_exact", "wilson_interval"]


def wilson_interval(present: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the binomial proportion ``present / n`` (NaNs for ``n == 0``)."""
    _check_confidence(confidence)
    if n <= 0:
        return math.nan, math.nan
    if not 0 <= present <= n:
        raise ValueError(f"present must lie in [0, n={n}], got {present}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = present / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if present == 0 else max(0.0, centre - half)  # exact ends: no rounding residue
    hi = 1.0 if present == n else min(1.0, centre + half)
    return lo, hi


def bootstrap_difference(
    present_a: int, n_a: int, present_b: int, n_b: int, *, confidence: float = 0.95, n_boot: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``present_a/n_a - present_b/n_b``.

    Resampling ``n`` features with replacement from a group with ``x`` present draws
    ``Binomial(n, x/n)`` present, which is what is sampled here (exact, and cheap).
    """
    _check_confidence(confidence)
    if n_a <= 0 or n_b <= 0 or n_boot <= 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    diffs = rng.binomial(n_a, present_a / n_a, n_boot) / n_a - rng.binomial(n_b, present_b / n_b, n_boot) / n_b
    lo, hi = np.quantile(diffs, [0.5 - confidence / 2, 0.5 + confidence / 2])
    return float(lo), float(hi)


def fisher_exact(present_a: int, n_a: int, present_b: int, n_b: int) -> float:
    """Two-sided p-value of Fisher's exact test that two groups have the same presence rate.

    Sums the hypergeometric probabilities of every table with the same margins that is at most as
    likely as the observed one (the usual two-sided definition, relative tolerance 1e-7).
    """
    if n_a <= 0 or n_b <= 0:
        return math.nan
    total_present, total = present_a + present_b, n_a + n_b
    lo, hi = max(0, total_present - n_b), min(total_present, n_a)

    def log_p(x: int) -> float:
        return _log_comb(n_a, x) + _log_comb(n_b, total_present - x) - _log_comb(total, total_present)

    observed = log_p(present_a)
    probs = [log_p(x) for x in range(lo, hi + 1)]
    p = sum(math.exp(v) for v in probs if v <= observed + 1e-7 * abs(observed) + 1e-12)
    return min(1.0, p)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
