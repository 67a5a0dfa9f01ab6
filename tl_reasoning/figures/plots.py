"""Figure functions; each returns a matplotlib ``Figure`` drawn without a display (Agg canvas)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["diff_presence_plot", "save_png", "score_distribution_plot", "steering_effects_plot",
           "steering_results_plot", "vocab_frequency_plot"]


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


#: (label, change column, scale, unit) of the steering plots' panels; changes are vs the baseline.
_EFFECTS = (("accuracy", "accuracy_diff", 100.0, "pts"), ("thinking length", "thinking_tokens_rel", 1.0, "%"),
            ("reasoning-word rate", "word_rate_rel", 1.0, "%"))


def _reference_line(ax: Any, value: float, *, vertical: bool = False, **style: Any) -> None:
    """A horizontal (or vertical) guide line, tagged ``gid="reference"`` (not data: tests skip it)."""
    line = ax.axvline(value, **style) if vertical else ax.axhline(value, **style)
    line.set_gid("reference")


def _ci(part: Any, column: str, scale: float) -> tuple[Any, Any, Any]:
    """``(y, [below, above])`` of a change column and its ``_low``/``_high`` interval (NaN → 0 width)."""
    y = part[column].astype(float).to_numpy() * scale
    lo = part[f"{column}_low"].astype(float).to_numpy() * scale if f"{column}_low" in part else y
    hi = part[f"{column}_high"].astype(float).to_numpy() * scale if f"{column}_high" in part else y
    below, above = np.nan_to_num(y - lo), np.nan_to_num(hi - y)
    return y, np.clip(below, 0, None), np.clip(above, 0, None)


def steering_results_plot(results: Any, *, x: str = "strength", accuracy: str = "accuracy",
                          length: str = "thinking_tokens", rate: str = "word_rate",
                          group: str | None = "feature") -> Any:
    """Accuracy, thinking length and reasoning-word rate against steering strength, per ``group``.

    Only measured points are drawn (markers, no lines: nothing is claimed between strengths). When
    ``results`` carries the evaluation's changes vs the baseline with CIs (``accuracy_diff``,
    ``thinking_tokens_rel``, ``word_rate_rel`` and their ``_low``/``_high``, as
    :meth:`~tl_reasoning.evaluation.EvaluationResult.plot_frame` gives) the panels show those
    changes with 95 % error bars; otherwise the raw values. Groups are dodged slightly along x so
    their points do not hide each other. ``results``: anything ``pandas.DataFrame`` accepts.
    """
    import pandas as pd

    frame = pd.DataFrame(results)
    missing = [c for c in (x, accuracy, length) if c not in frame.columns]
    if missing:
        raise ValueError(f"steering results lack columns {missing}; have {list(frame.columns)}")
    changes = all(c in frame.columns for _, c, _, _ in _EFFECTS)
    if changes:
        panels = list(_EFFECTS)
    else:
        panels = [("accuracy", accuracy, 1.0, ""), ("thinking length", length, 1.0, "tokens")]
        if rate in frame.columns:
            panels.append(("reasoning-word rate", rate, 1.0, "words / 100 tokens"))
    if changes:  # the baseline (strength 0, no change) once, not once per group
        base = frame[frame[x].astype(float) == 0.0]
        base = base[base[[c for _, c, _, _ in _EFFECTS]].isna().all(axis=1)]
        frame = frame.drop(index=base.index)
    groups = list(frame.groupby(group, sort=False)) if group and group in frame.columns else [("all", frame)]
    if changes and len(base):
        groups.insert(0, ("baseline", base.head(1)))
    fig = _figure(4.2 * len(panels), 4.0)
    axes = fig.subplots(1, len(panels))
    span = float(frame[x].astype(float).max() - frame[x].astype(float).min()) or 1.0
    for k, (name, part) in enumerate(groups):
        part = part.sort_values(x)
        xs = part[x].astype(float).to_numpy() + 0.015 * span * (k - (len(groups) - 1) / 2)
        for ax, (_, column, scale, _) in zip(axes, panels, strict=True):
            if changes:
                y, below, above = _ci(part.fillna({column: 0.0}), column, scale)  # baseline: Δ = 0
                ax.errorbar(xs, y, yerr=[below, above], fmt="o", linestyle="none", capsize=3, label=str(name))
            else:
                ax.plot(xs, part[column].astype(float).to_numpy() * scale, marker="o", linestyle="none",
                        label=str(name))
    for ax, (label, _, _, unit) in zip(axes, panels, strict=True):
        ax.set(xlabel=x, title=label, ylabel=(f"Δ vs baseline ({unit})" if changes else f"{label} ({unit})".rstrip(" ()")))
        if changes:
            _reference_line(ax, 0.0, color="grey", linewidth=0.8)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def steering_effects_plot(summary: Any, *, target: float | None = 20.0, limit: float | None = 5.0,
                          kinds: tuple[str, ...] = ("steering", "oracle", "random_features", "control_feature",
                                                    "word_ban", "random_word_ban")) -> Any:
    """Changes vs the baseline per condition with 95 % CIs: Δ accuracy (pts), Δ thinking length (%)
    and Δ reasoning-word rate (%), one row per condition (a forest plot of Table 1).

    Candidates are drawn in blue, an oracle direction (a condition named ``oracle …``) in purple,
    random controls in grey (single control features small), word bans in green. ``target`` (the effect the paper reports, %) is a dashed line on the two rate
    panels and ``limit`` (what controls may move, %) a shaded band; pass ``None`` to leave them out.
    Conditions of other kinds (not in ``kinds``) are left out; an oracle direction's kind is drawn
    like a candidate.
    """
    import pandas as pd

    frame = pd.DataFrame(summary)
    if "kind" in frame.columns:
        frame = frame[frame["kind"].isin(kinds)]
    missing = [c for _, c, _, _ in _EFFECTS if c not in frame.columns]
    if missing:
        raise ValueError(f"the summary lacks columns {missing}; pass EvaluationResult.summary")
    if frame.empty:
        raise ValueError("no steered or banned conditions to plot")
    colours = {"random_features": "#555555", "control_feature": "#aaaaaa", "word_ban": "#2ca02c",
               "random_word_ban": "#98df8a"}
    labels = [str(c) if k != "control_feature" else "   · " + str(c).rsplit(" · ", 1)[-1]
              for c, k in zip(frame["condition"], frame.get("kind", ["steering"] * len(frame)), strict=True)]
    ys = np.arange(len(frame))[::-1]
    fig = _figure(12.0, max(2.5, 0.28 * len(frame) + 1.2))
    axes = fig.subplots(1, len(_EFFECTS), sharey=True)
    for ax, (label, column, scale, unit) in zip(axes, _EFFECTS, strict=True):
        if limit is not None and unit == "%":
            ax.axvspan(-limit, limit, color="#dddddd", alpha=0.6, label=f"controls ±{limit:g} %")
        if target is not None and unit == "%":
            _reference_line(ax, target, vertical=True, color="#c44e52", linestyle="--", linewidth=1,
                            label=f"target +{target:g} %")
        _reference_line(ax, 0.0, vertical=True, color="black", linewidth=0.8)
        for y, (_, row) in zip(ys, frame.iterrows(), strict=True):
            kind = row.get("kind", "steering")
            mid, below, above = _ci(pd.DataFrame([row]), column, scale)
            ax.errorbar(mid, [y], xerr=[below, above], fmt="o", linestyle="none", capsize=2,
                        markersize=3 if kind == "control_feature" else 6,
                        color="#8172b2" if "oracle" in str(row["condition"]) else colours.get(kind, "#4c72b0"))
        ax.set(title=label, xlabel=f"Δ vs baseline ({unit})")
        ax.grid(alpha=0.3, axis="x")
    axes[0].set_yticks(ys, labels, fontsize=7)
    if axes[1].get_legend_handles_labels()[0]:
        axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
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
