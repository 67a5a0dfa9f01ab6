"""ReasonScore (paper Eq. 5) from one-pass statistics.

RS_i = µ_W,i / Σ_j µ_W,j · H_i^α − µ_¬W,i / Σ_j µ_¬W,j, with the sums over all features (not a
chunk of them, unlike the official code) and H_i the entropy of feature i's mean activation over
the word groups, normalised by log |R| (Eq. 4). ε = 1e-12 in the denominators as in the code.
"""

from __future__ import annotations

import math

import torch

from tl_reasoning.stats import FeatureStats

__all__ = ["reason_score", "word_entropy"]


def word_entropy(mean_word: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Normalised entropy ``[F]`` of each feature's mean activation over ``W`` word groups.

    ``mean_word`` is ``[W, F]``. With one group the entropy is 1; 0·log 0 counts as 0; a feature
    never active in any window gets 0.
    """
    n_words = mean_word.shape[0]
    if n_words <= 1:
        return torch.ones(mean_word.shape[1], dtype=mean_word.dtype, device=mean_word.device)
    p = mean_word / (mean_word.sum(dim=0, keepdim=True) + eps)
    plogp = torch.where(p > 0, p * torch.log(p.clamp(min=eps)), torch.zeros_like(p))
    return -plogp.sum(dim=0) / math.log(n_words)


def reason_score(stats: FeatureStats, alpha: float = 0.7, eps: float = 1e-12) -> torch.Tensor:
    """ReasonScore ``[F]`` for every feature; higher = fires specifically around reasoning words."""
    if not alpha >= 0 or alpha == float("inf"):  # also refuses NaN
        raise ValueError(f"--alpha must be a finite number >= 0 (default 0.7), got {alpha}")
    mean_w = stats.mean_window.double()
    mean_o = stats.mean_other.double()
    entropy = word_entropy(stats.mean_word.double(), eps)
    share_w = mean_w / (mean_w.sum() + eps)
    share_o = mean_o / (mean_o.sum() + eps)
    return (share_w * entropy.pow(alpha) - share_o).to(stats.sum_window.dtype)
