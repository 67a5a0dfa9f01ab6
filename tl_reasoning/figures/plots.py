"""Figure functions; each returns a matplotlib ``Figure`` drawn without a display (Agg canvas)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["diff_presence_plot", "save_png", "score_distribution_plot", "steering_results_plot",
           "vocab_frequency_plot"]


def _figure(width: float = 7.0, height: float = 4.0) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Save ``fig`` as PNG at ``path`` (parent folders created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, format="png", bbox_inches="tight")
    return target


def vocab_frequency_plot(mined: Any, top: int = 40) -> Any:
    """Paper Fig. 2: per word, frequency in reasoning vs plain text (``mine_vocabulary`` output)."""
    for column in ("word", "p_reasoning", "p_plain", "diff"):
        if column not in mined.columns:
            raise ValueError(f"the vocabulary table has no {column!r} column; pass tl_reasoning.mine_vocabulary(...)")
    rows = mined.sort_values("diff", ascending=False).head(top)
    fig = _figure(max(7.0, 0.22 * len(rows)), 4.0)
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    ax.scatter(x, rows["p_reasoning"], label="reasoning", color="#c44e52", zorder=3)
    ax.scatter(x, rows["p_plain"], label="plain", color="#4c72b0", zorder=3)
    ax.set_xticks(x, rows["word"].astype(str), rotation=70, fontsize=8)
    ax.set_ylabel("frequency")
    ax.set_title(f"Top {len(rows)} words by frequency difference (reasoning - plain)")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def score_distribution_plot(scores: Any, quantile: float = 0.997) -> Any:
    """Paper Fig. 6: ReasonScore sorted descending against rank (log-x), a line at the ``quantile``."""
    values = np.sort(np.asarray(scores["reason_score"] if hasattr(scores, "columns") else scores, dtype=float))[::-1]
    if values.size == 0:
        raise ValueError("no scores to plot")
    threshold = float(np.quantile(values, quantile))
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(np.arange(1, values.size + 1), values, color="#4c72b0")
    ax.axhline(threshold, color="#c44e52", linestyle="--", label=f"q = {quantile:g} ({threshold:.3g})")
    ax.set_xscale("log")
    ax.set_xlabel("feature rank")
    ax.set_ylabel("ReasonScore")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def steering_results_plot(results: Any, *, x: str = "strength", accuracy: str = "accuracy",
                          length: str = "thinking_tokens", group: str | None = "feature") -> Any:
    """Accuracy and thinking length against steering strength, one line per ``group`` value.

    ``results``: a DataFrame (or anything ``pandas.DataFrame`` accepts) with those columns.
    """
    import pandas as pd

    frame = pd.DataFrame(results)
    missing = [c for c in (x, accuracy, length) if c not in frame.columns]
    if missing:
        raise ValueError(f"steering results lack columns {missing}; have {list(frame.columns)}")
    groups = frame.groupby(group) if group and group in frame.columns else [("all", frame)]
    fig = _figure(10.0, 4.0)
    ax_acc, ax_len = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for name, part in groups:
        part = part.sort_values(x)
        ax_acc.plot(part[x], part[accuracy], marker="o", label=str(name))
        ax_len.plot(part[x], part[length], marker="o", label=str(name))
    ax_acc.set(xlabel=x, ylabel=accuracy, title="accuracy")
    ax_len.set(xlabel=x, ylabel=length, title="thinking length")
    for ax in (ax_acc, ax_len):
        ax.grid(alpha=0.3)
    ax_len.legend(fontsize=8)
    return fig


def diff_presence_plot(fractions: Mapping[str, float] | Any, threshold: float = 0.7) -> Any:
    """Paper Fig. 4: share of features present (cosine >= ``threshold``) at each diffing stage."""
    items = list(fractions.items()) if hasattr(fractions, "items") else list(fractions)
    if not items:
        raise ValueError("no stages to plot")
    labels, values = [str(k) for k, _ in items], [float(v) for _, v in items]
    if any(not 0.0 <= v <= 1.0 for v in values):
        raise ValueError(f"fractions must lie in [0, 1], got {values}")
    fig = _figure(max(5.0, 0.9 * len(items)), 3.5)
    ax = fig.add_subplot()
    ax.bar(labels, values, color="#55a868")
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"present (cos >= {threshold:g})")
    ax.set_title("Reasoning features across model stages")
    return fig
