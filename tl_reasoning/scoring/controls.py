"""Control scores computed from the same statistics as ReasonScore (no extra pass).

They flag the confounds a high ReasonScore can hide (critique in peers.md, GeorgeMLP/
reasoning-probing): a feature that barely separates window from other tokens, or one that is just
a detector of a single vocabulary word.
"""

from __future__ import annotations

import torch

from tl_reasoning.stats import FeatureStats

__all__ = ["matched_share", "separability", "top_word", "word_concentration"]


def separability(stats: FeatureStats) -> torch.Tensor:
    """Cohen's d of window vs other tokens: (µ_W − µ_¬W) / pooled standard deviation.

    Higher: the activation separates reasoning-window tokens from the rest. 0 where both groups
    have zero variance and equal means.
    """
    n_w = stats.count_window.double()
    n_o = stats.count_other.double()
    pooled = ((n_w - 1).clamp(min=0) * stats.var_window + (n_o - 1).clamp(min=0) * stats.var_other)
    pooled = pooled / (n_w + n_o - 2).clamp(min=1)
    diff = stats.mean_window.double() - stats.mean_other.double()
    sd = pooled.sqrt()
    return torch.where(sd > 0, diff / sd.clamp(min=1e-12), torch.zeros_like(diff))


def word_concentration(stats: FeatureStats) -> torch.Tensor:
    """max_j p_ij: the largest share of a feature's per-word mean activation taken by one word group.

    1/|R| = spread evenly over the words; 1 = fires around one word only (a token detector, which
    the entropy term of ReasonScore penalises). Features never active in a window get 0.
    """
    mean_word = stats.mean_word.double()
    total = mean_word.sum(0)
    share = mean_word.max(0).values / total.clamp(min=1e-300)
    return torch.where(total > 0, share, torch.zeros_like(share))


def top_word(stats: FeatureStats) -> list[str]:
    """The word group with the largest mean activation per feature (``""`` when never active)."""
    mean_word = stats.mean_word
    best = mean_word.argmax(0).tolist()
    active = (mean_word.sum(0) > 0).tolist()
    return [stats.words[b] if a else "" for b, a in zip(best, active, strict=True)]


def matched_share(stats: FeatureStats) -> torch.Tensor:
    """Share of the window activation mass that sits on the matched vocabulary tokens themselves.

    A feature that spreads over the whole window scores about the token share
    ``count_matched / count_window``; near 1 it fires on the word tokens only (a token detector).
    """
    if stats.sum_matched is None:
        raise ValueError("these statistics have no matched-token sums; recompute them with collect_stats")
    total = stats.sum_window.double()
    share = stats.sum_matched.double() / total.clamp(min=1e-300)
    return torch.where(total > 0, share, torch.zeros_like(share))
