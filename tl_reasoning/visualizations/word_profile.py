"""A feature's per-word activation profile: the distribution p_i(r_j) that ReasonScore's entropy uses.

For feature i and reasoning-word group r_j, ``FeatureStats.mean_word[j, i]`` is the feature's mean
activation in the windows around r_j; normalised over the groups it is p_i(r_j), and its normalised
entropy is the term that rewards features firing for many reasoning words rather than for one
(:func:`tl_reasoning.scoring.reason_score.word_entropy`). Shown next to the score table, it lets a
reader check ``top_word`` (the group with the largest p) against the feature's contexts: a single
tall bar is a one-word (token) feature, an even spread a feature of the reasoning behaviour.
"""

from __future__ import annotations

from typing import Any

from tl_reasoning.views import View, esc

__all__ = ["word_profile", "word_profile_view"]


def word_profile(stats: Any, feature: int) -> tuple[list[str], list[float], list[float], float]:
    """``(words, p, mean activation, normalised entropy)`` of ``feature`` from :class:`~tl_reasoning.FeatureStats`.

    ``p`` sums to 1 over the word groups (all zeros for a feature never active near any of them);
    the entropy is exactly the one ReasonScore used.
    """
    from tl_reasoning.scoring.reason_score import word_entropy

    means = stats.mean_word.double()
    if means.ndim != 2 or not 0 <= int(feature) < means.shape[1]:
        raise ValueError(f"feature {feature} is out of range for statistics of {means.shape[-1]} features")
    column = means[:, int(feature)].clamp(min=0)
    total = float(column.sum())
    p = (column / total).tolist() if total > 0 else [0.0] * len(column)
    entropy = float(word_entropy(means[:, int(feature):int(feature) + 1])[0])
    return list(stats.words), p, column.tolist(), entropy


def word_profile_view(stats: Any, feature: int, *, top: int = 12) -> View:
    """The profile as a small bar chart (one row per word group, largest p first; ``top`` rows, the
    rest summed in one line) with p and the mean activation in numbers."""
    words, p, means, entropy = word_profile(stats, feature)
    order = sorted(range(len(words)), key=lambda j: -p[j])
    shown, rest = order[:top], order[top:]
    width = 160
    rows = []
    for j in shown:
        bar = f"<span class='tlr-bar' style='display:inline-block;height:10px;width:{width * p[j]:.1f}px;" \
              "background:#c44e52'></span>"
        rows.append(f"<tr data-word='{esc(words[j])}'><td>{esc(words[j])}</td><td>{bar}</td>"
                    f"<td>{p[j]:.3f}</td><td>{means[j]:.3g}</td></tr>")
    if rest:
        rows.append(f"<tr class='tlr-rest'><td>{len(rest)} more</td><td></td><td>{sum(p[j] for j in rest):.3f}</td><td></td></tr>")
    table = ("<table class='tlr-table tlr-words'><tr><th>word group r_j</th><th></th><th>p_i(r_j)</th>"
             f"<th>mean act.</th></tr>{''.join(rows)}</table>")
    meta = (f"<p class='tlr-meta'>normalised entropy {entropy:.3f} over {len(words)} word groups (1 = spread "
            "evenly, 0 = one word); ReasonScore weighs it by entropy^α</p>")
    top_word = words[order[0]] if order and p[order[0]] > 0 else ""
    return View([table, meta], f"Feature {feature}: activation per reasoning word",
                {"words": words, "p": p, "mean": means, "entropy": entropy, "top_word": top_word})
