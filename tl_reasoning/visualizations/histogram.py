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
    equal width), labelled with its range on hover.
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
    width, height, bar = 480, 110, 480 / max(len(counts), 1)
    rects = []
    for i, c in enumerate(counts):
        h = (height - 20) * c / peak
        tip = f"[{edges[i]:.3g}, {edges[i + 1]:.3g}): {int(c)}"
        rects.append(f"<rect x='{i * bar:.1f}' y='{height - 20 - h:.1f}' width='{max(bar - 1, 0.5):.1f}' "
                     f"height='{h:.1f}' fill='#4c72b0'><title>{esc(tip)}</title></rect>")
    labels = (f"<text x='0' y='{height - 5}' font-size='10'>{edges[0]:.3g}</text>"
              f"<text x='{width}' y='{height - 5}' font-size='10' text-anchor='end'>{edges[-1]:.3g}</text>")
    svg = (f"<svg class='tlr-hist' width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
           f"role='img'>{''.join(rects)}{labels}</svg>")
    meta = f"<p class='tlr-meta'>{int(total)} positive activations</p>"
    return View([svg, meta], f"Feature {feature}: activation histogram",
                {"edges": edges, "counts": counts, "total": total})
