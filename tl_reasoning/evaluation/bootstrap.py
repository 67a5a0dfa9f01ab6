"""Paired bootstrap confidence intervals for "condition B vs condition A on the same problems".

Both conditions are measured on the same problems, so the problems are resampled together
(a paired bootstrap): each of ``n_boot`` resamples draws ``n`` problem indices with replacement,
and the difference of means ``mean(B) - mean(A)`` and the relative change
``100 · (mean(B) / mean(A) - 1)`` are computed on it. The CI is the percentile interval of those
``n_boot`` values. Resampling is vectorised (one ``[n_boot, n]`` index matrix) and seeded, so the
same inputs and seed give the same interval. The relative change is undefined (NaN) when the
baseline mean is 0.

**Several runs** (:func:`paired_bootstrap_runs`: an averaged condition such as ``n`` random
control features, each a *run* on the same problems): every replicate draws the problems with
replacement **and**, independently, the runs with replacement, and the treated mean is the mean
of the ``[drawn runs × drawn problems]`` cells (cells without a value — NaN, e.g. no finished
generation — left out). So a control row's CI reflects both the spread between problems and the
spread between control features. With one run it equals :func:`paired_bootstrap` exactly (the
problem indices are drawn first from the same stream).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["BootstrapResult", "paired_bootstrap", "paired_bootstrap_runs"]


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
    n_runs: int = 1
    """Runs (e.g. control features) resampled together with the problems."""

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
    t = np.asarray(treated, dtype=np.float64).reshape(-1)
    if np.isnan(t).any():
        raise ValueError("paired bootstrap values contain NaN; drop those problems from both conditions first")
    return paired_bootstrap_runs(t[None, :], baseline, n_boot=n_boot, confidence=confidence, seed=seed)


def paired_bootstrap_runs(
    treated: Any,
    baseline: Sequence[float] | np.ndarray | Any,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapResult:
    """Paired bootstrap resampling problems **and** runs (module docstring).

    :param treated: ``[n_runs, n_problems]`` values (NaN: no value for that run and problem).
    :param baseline: ``[n_problems]`` baseline values in the same problem order (no NaN).
    """
    b = np.asarray(baseline, dtype=np.float64).reshape(-1)
    cells = np.asarray(treated, dtype=np.float64)
    if cells.ndim == 1:
        cells = cells[None, :]
    if cells.ndim != 2:
        raise ValueError(f"treated values must be [n_runs, n_problems], got shape {cells.shape}")
    keep = ~np.isnan(cells).all(axis=0)
    if cells.shape[1] == b.size and not keep.all():
        cells, b = cells[:, keep], b[keep]
    t = cells
    if b.size != t.shape[1]:
        raise ValueError(f"paired bootstrap needs the same problems in both conditions: got {t.shape[1]} treated and "
                         f"{b.size} baseline values")
    if b.size == 0:
        raise ValueError("paired bootstrap needs at least one problem")
    if np.isnan(b).any():
        raise ValueError("paired bootstrap baseline values contain NaN; drop those problems from both conditions first")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, b.size, size=(n_boot, b.size))
    mean_b = b[index].mean(axis=1)
    runs = t.shape[0]
    if runs == 1:
        mean_t = t[0][index].mean(axis=1)
    else:
        pick = rng.integers(0, runs, size=(n_boot, runs))
        mean_t = np.empty(n_boot)
        for start in range(0, n_boot, 256):  # [chunk, runs, problems] at a time
            block = t[pick[start:start + 256, :, None], index[start:start + 256, None, :]]
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean_t[start:start + 256] = np.nanmean(block.reshape(block.shape[0], -1), axis=1)
    ok = np.isfinite(mean_t)
    mean_b, mean_t = mean_b[ok], mean_t[ok]
    alpha = (1.0 - confidence) / 2.0
    quantiles = [alpha, 1.0 - alpha]
    d_low, d_high = np.quantile(mean_t - mean_b, quantiles)
    base, treat = float(b.mean()), float(np.nanmean(t))
    if base == 0.0:
        rel = rel_low = rel_high = float("nan")
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = 100.0 * (mean_t / mean_b - 1.0)
        ratios = ratios[np.isfinite(ratios)]
        rel = 100.0 * (treat / base - 1.0)
        rel_low, rel_high = (np.quantile(ratios, quantiles) if ratios.size else (float("nan"), float("nan")))
    return BootstrapResult(base, treat, treat - base, float(d_low), float(d_high), float(rel), float(rel_low),
                           float(rel_high), int(b.size), int(n_boot), float(confidence), int(runs))
