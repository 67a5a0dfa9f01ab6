"""Paired bootstrap confidence intervals for "condition B vs condition A on the same problems".

Both conditions are measured on the same problems, so the problems are resampled together
(a paired bootstrap): each of ``n_boot`` resamples draws ``n`` problem indices with replacement,
and the difference of means ``mean(B) - mean(A)`` and the relative change
``100 · (mean(B) / mean(A) - 1)`` are computed on it. The CI is the percentile interval of those
``n_boot`` values. Resampling is vectorised (one ``[n_boot, n]`` index matrix) and seeded, so the
same inputs and seed give the same interval. The relative change is undefined (NaN) when the
baseline mean is 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["BootstrapResult", "paired_bootstrap"]


@dataclass(frozen=True)
class BootstrapResult:
    """Point estimates and percentile CIs of a paired comparison (``treated`` vs ``baseline``)."""

    baseline: float
    """Mean of the baseline values."""
    treated: float
    """Mean of the treated values."""
    diff: float
    """``treated - baseline``."""
    diff_low: float
    diff_high: float
    rel_change: float
    """``100 · (treated / baseline - 1)`` in percent (NaN when the baseline mean is 0)."""
    rel_low: float
    rel_high: float
    n: int
    """Number of paired problems."""
    n_boot: int
    confidence: float

    def to_json(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in asdict(self).items()}

    def __str__(self) -> str:
        rel = "n/a" if np.isnan(self.rel_change) else \
            f"{self.rel_change:+.1f}% [{self.rel_low:+.1f}, {self.rel_high:+.1f}]"
        return (f"{self.treated:.4g} vs {self.baseline:.4g}: diff {self.diff:+.4g} "
                f"[{self.diff_low:+.4g}, {self.diff_high:+.4g}], rel {rel} "
                f"({self.confidence:.0%} CI, n={self.n})")


def paired_bootstrap(
    treated: Sequence[float] | np.ndarray | Any,
    baseline: Sequence[float] | np.ndarray | Any,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapResult:
    """Paired bootstrap of ``treated`` vs ``baseline`` (one value per problem, same order).

    :param treated: per-problem values under the condition of interest (e.g. mean thinking length).
    :param baseline: per-problem values under the baseline, aligned with ``treated``.
    :param n_boot: number of bootstrap resamples of the problems.
    :param confidence: CI level (percentile interval).
    :param seed: seeds the resampling (``numpy.random.default_rng``).
    """
    b = np.asarray(baseline, dtype=np.float64).reshape(-1)
    t = np.asarray(treated, dtype=np.float64).reshape(-1)
    if b.shape != t.shape:
        raise ValueError(f"paired bootstrap needs the same problems in both conditions: got {t.size} treated and "
                         f"{b.size} baseline values")
    if b.size == 0:
        raise ValueError("paired bootstrap needs at least one problem")
    if np.isnan(b).any() or np.isnan(t).any():
        raise ValueError("paired bootstrap values contain NaN; drop those problems from both conditions first")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, b.size, size=(n_boot, b.size))
    mean_b = b[index].mean(axis=1)
    mean_t = t[index].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    quantiles = [alpha, 1.0 - alpha]
    d_low, d_high = np.quantile(mean_t - mean_b, quantiles)
    base, treat = float(b.mean()), float(t.mean())
    if base == 0.0:
        rel = rel_low = rel_high = float("nan")
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = 100.0 * (mean_t / mean_b - 1.0)
        ratios = ratios[np.isfinite(ratios)]
        rel = 100.0 * (treat / base - 1.0)
        rel_low, rel_high = (np.quantile(ratios, quantiles) if ratios.size else (float("nan"), float("nan")))
    return BootstrapResult(base, treat, treat - base, float(d_low), float(d_high), float(rel), float(rel_low),
                           float(rel_high), int(b.size), int(n_boot), float(confidence))
