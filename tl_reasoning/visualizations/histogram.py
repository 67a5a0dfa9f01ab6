"""A feature's activation histogram as a small inline SVG (no JavaScript needed)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tl_reasoning.views import View, esc

__all__ = ["activation_histogram", "histogram_from_stats"]


def histogram_from_stats(stats: object, feature: int) -> tuple[list[float], list[float]]:
    """``(edges, counts)`` of one feature from :class:`~tl_reasoning.FeatureStats` (its log histogram).

    ``edges`` has one entry more than ``counts``: the first bin starts at 0, the last one (open
    ended) is drawn up to the feature's maximum when known.
    """
    hist, edges = getattr(stats, "hist", None), getattr(stats, "hist_edges", None)
    if hist is None or edges is None:
        raise ValueError("these statistics have no activation histogram; recompute them with tl-reasoning score")
    counts = hist[int(feature)].double().tolist()
    inner = edges.double().tolist()
    top = getattr(stats, "max_activation", None)
    last = max(float(top[int(feature)]), inner[-1]) if top is not None else inner[-1] * 1.33
    return [0.0, *inner, last], counts


def activation_histogram(
    feature: int,
    *,
    values: Sequence[float] | torch.Tensor | None = None,
    edges: Sequence[float] | None = None,
    counts: Sequence[float] | None = None,
    bins: int = 40,
) -> View:
    """Histogram of a feature's positive activations, from raw ``values`` or from ``edges``/``counts``.

    Empty leading and trailing bins are trimmed; each bar is one bin (log bins from statistics keep
    equal width), labelled with its range on hover. The axes are labelled (x: activation, y: count
    of token positions) with tick values: bin edges along x, 0 / half / peak count along y.
    """
    if values is not None:
        v = torch.as_tensor(values, dtype=torch.float64).flatten()
        v = v[v > 0]
        if v.numel() == 0:
            edges, counts = [0.0, 1.0], [0.0]
        else:
            hist = torch.histogram(v, bins=bins, range=(0.0, float(v.max())))
            edges, counts = hist.bin_edges.tolist(), hist.hist.tolist()
    if edges is None or counts is None or len(edges) != len(counts) + 1:
        raise ValueError("give values, or edges and counts with len(edges) == len(counts) + 1")
    nz = [i for i, c in enumerate(counts) if c > 0]
    lo, hi = (nz[0], nz[-1] + 1) if nz else (0, len(counts))
    counts, edges = list(counts[lo:hi]), list(edges[lo:hi + 1])
    total, peak = sum(counts), max(counts + [1.0])
    svg = _svg(edges, counts, peak)
    meta = f"<p class='tlr-meta'>{int(total)} positive activations</p>"
    return View([svg, meta], f"Feature {feature}: activation histogram",
                {"edges": edges, "counts": counts, "total": total})


#: Plot area of the histogram SVG: left margin for the count ticks, bottom for the activation ticks.
_W, _H, _LEFT, _BOTTOM, _TOP = 520, 150, 52, 34, 8


def _svg(edges: Sequence[float], counts: Sequence[float], peak: float) -> str:
    """The bars, both axes with tick values and their labels, as one ``<svg class='tlr-hist'>``."""
    plot_w, plot_h = _W - _LEFT - 8, _H - _BOTTOM - _TOP
    bar = plot_w / max(len(counts), 1)
    base_y = _TOP + plot_h
    parts = []
    for i, c in enumerate(counts):
        h = plot_h * c / peak
        tip = f"[{edges[i]:.3g}, {edges[i + 1]:.3g}): {int(c)}"
        parts.append(f"<rect x='{_LEFT + i * bar:.1f}' y='{base_y - h:.1f}' width='{max(bar - 1, 0.5):.1f}' "
                     f"height='{h:.1f}' fill='#4c72b0'><title>{esc(tip)}</title></rect>")
    axis = "stroke='#333' stroke-width='1'"
    parts.append(f"<line class='tlr-axis-x' x1='{_LEFT}' y1='{base_y}' x2='{_LEFT + plot_w}' y2='{base_y}' {axis}/>")
    parts.append(f"<line class='tlr-axis-y' x1='{_LEFT}' y1='{_TOP}' x2='{_LEFT}' y2='{base_y}' {axis}/>")
    n_ticks = min(len(counts), 4)
    for k in range(n_ticks + 1):  # activation ticks at bin edges
        i = round(k * len(counts) / max(n_ticks, 1))
        x = _LEFT + i * bar
        anchor = "start" if k == 0 else "end" if k == n_ticks else "middle"
        parts.append(f"<line x1='{x:.1f}' y1='{base_y}' x2='{x:.1f}' y2='{base_y + 4}' {axis}/>"
                     f"<text class='tlr-tick-x' x='{x:.1f}' y='{base_y + 14}' font-size='10' "
                     f"text-anchor='{anchor}'>{edges[i]:.3g}</text>")
    for value in sorted({0.0, round(peak / 2), peak}):  # count ticks
        y = base_y - plot_h * value / peak
        parts.append(f"<line x1='{_LEFT - 4}' y1='{y:.1f}' x2='{_LEFT}' y2='{y:.1f}' {axis}/>"
                     f"<text class='tlr-tick-y' x='{_LEFT - 6}' y='{y + 3:.1f}' font-size='10' "
                     f"text-anchor='end'>{int(value)}</text>")
    parts.append(f"<text class='tlr-xlabel' x='{_LEFT + plot_w / 2:.1f}' y='{_H - 3}' font-size='11' "
                 "text-anchor='middle'>activation</text>")
    parts.append(f"<text class='tlr-ylabel' x='12' y='{_TOP + plot_h / 2:.1f}' font-size='11' text-anchor='middle' "
                 f"transform='rotate(-90 12 {_TOP + plot_h / 2:.1f})'>count</text>")
    return (f"<svg class='tlr-hist' width='{_W}' height='{_H}' viewBox='0 0 {_W} {_H}' role='img' "
            f"aria-label='activation histogram'>{''.join(parts)}</svg>")
