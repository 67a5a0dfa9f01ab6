"""Figures of model diffing: presence fractions (candidates vs random) and best-match cosines.

Drawn on an Agg canvas (no display needed); save with :func:`tl_reasoning.figures.save_png`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tl_reasoning.diffing.presence import DirectionPresence, PresenceResult

__all__ = ["cosine_histogram_plot", "diffing_figure", "presence_plot"]

_CANDIDATE, _RANDOM = "#c44e52", "#8c8c8c"


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def presence_plot(result: PresenceResult, ax: Any = None) -> Any:
    """Bars of the share of candidates and of random features present, per source → target pair.

    Error bars are the Wilson intervals. Without a random baseline this is
    :func:`tl_reasoning.figures.diff_presence_plot` of the candidates' fractions. Draws into ``ax``
    when given; returns the figure.
    """
    rows = [d.stats() for d in result.directions]
    labels = [f"{r['source']}\n→ {r['target']}" for r in rows]
    has_random = any(r["n_random"] for r in rows)
    if ax is None and not has_random:
        from tl_reasoning.figures import diff_presence_plot

        return diff_presence_plot({label: r["fraction_candidates"] for label, r in zip(labels, rows, strict=True)},
                                  result.threshold)
    if ax is None:
        fig = _figure(max(5.0, 1.3 * len(rows) + 2.0), 3.8)
        ax = fig.add_subplot()
    x = np.arange(len(rows))
    width = 0.38 if has_random else 0.6
    groups = [("candidates", "fraction_candidates", "ci_low", "ci_high", _CANDIDATE)]
    if has_random:
        groups.append(("random", "fraction_random", "random_ci_low", "random_ci_high", _RANDOM))
    for k, (label, frac, lo, hi, color) in enumerate(groups):
        values = np.array([r[frac] for r in rows], dtype=float)
        err = np.array([[v - r[lo] for v, r in zip(values, rows, strict=True)],
                        [r[hi] - v for v, r in zip(values, rows, strict=True)]], dtype=float)
        offset = (k - (len(groups) - 1) / 2) * width
        bars = ax.bar(x + offset, np.nan_to_num(values), width, yerr=np.nan_to_num(err), capsize=3, color=color,
                      label=label)
        for bar, v, top in zip(bars, values, values + np.nan_to_num(err[1]), strict=True):
            if np.isfinite(v):
                ax.annotate(f"{100 * v:.0f}%", (bar.get_x() + bar.get_width() / 2, top), xytext=(0, 2),
                            textcoords="offset points", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_xlim(-0.8, len(rows) - 0.2)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel(f"present (cos ≥ {result.threshold:g})")
    ax.set_title(f"Features present in the other SAE ({result.method} match)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return ax.figure


def cosine_histogram_plot(result: PresenceResult, source: str | None = None, target: str | None = None,
                          ax: Any = None) -> Any:
    """Histogram of best-match cosines of candidates vs random features, with the threshold line.

    Bars are shares of each group (so groups of different sizes compare); cosines below -0.2 are
    counted in the first bin. Default pair: the first.
    """
    d = result.direction(source, target)
    if ax is None:
        fig = _figure(5.0, 3.4)
        ax = fig.add_subplot()
    _histogram(ax, d, result.threshold)
    return ax.figure


def _histogram(ax: Any, d: DirectionPresence, threshold: float) -> None:
    bins = np.linspace(-0.2, 1.0, 25)
    for label, m, color in (("candidates", d.candidates, _CANDIDATE), ("random", d.random, _RANDOM)):
        if m is None or len(m) == 0:
            continue
        cos = m.cosine.numpy()
        cos = np.clip(cos[np.isfinite(cos)], bins[0], bins[-1])
        if cos.size:
            ax.hist(cos, bins=bins, weights=np.full(cos.size, 1 / cos.size), alpha=0.55, color=color,
                    label=f"{label} (n={len(m)})")
    ax.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    ax.set_xlabel("best-match cosine")
    ax.set_ylabel("share of features")
    ax.set_title(f"{d.source} → {d.target}", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def diffing_figure(result: PresenceResult, max_histograms: int = 6) -> Any:
    """One figure: presence bars on top, below a cosine histogram per pair (the first ``max_histograms``)."""
    pairs = result.directions[:max(1, max_histograms)]
    cols = min(3, len(pairs))
    hist_rows = -(-len(pairs) // cols)
    fig = _figure(max(7.0, 4.0 * cols), 3.8 + 3.0 * hist_rows)
    grid = fig.add_gridspec(1 + hist_rows, cols, height_ratios=[1.3] + [1.0] * hist_rows)
    presence_plot(result, ax=fig.add_subplot(grid[0, :]))
    for k, d in enumerate(pairs):
        _histogram(fig.add_subplot(grid[1 + k // cols, k % cols]), d, result.threshold)
    return fig
