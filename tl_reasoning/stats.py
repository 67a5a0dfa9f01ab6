"""Per-feature activation statistics gathered in one pass, from which every scorer works.

For each SAE feature: sums and counts of activations on reasoning-window tokens, on all other
tokens, and per vocabulary word group. Keeping sums and counts (not means) makes shards mergeable
and lets scores with other α, ε or quantiles be recomputed without touching the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["FeatureStats"]


@dataclass
class FeatureStats:
    """Sums over tokens, per feature (``F`` = number of SAE features, ``W`` = word groups)."""

    words: list[str]
    sum_window: torch.Tensor
    """``[F]`` activation sums over tokens inside a reasoning-word window."""
    count_window: torch.Tensor
    """``[]`` number of window tokens."""
    sum_other: torch.Tensor
    """``[F]`` activation sums over all other (non-special) tokens."""
    count_other: torch.Tensor
    """``[]`` number of other tokens."""
    sum_word: torch.Tensor
    """``[W, F]`` activation sums over the window of each word group."""
    count_word: torch.Tensor
    """``[W]`` tokens in each word group's window."""
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    """Further moments (squares, maxima, ...) that control scorers need."""

    def __post_init__(self) -> None:
        n_feat = self.sum_window.shape[-1]
        if self.sum_other.shape != (n_feat,) or self.sum_word.shape != (len(self.words), n_feat):
            raise ValueError(
                f"inconsistent statistics: sum_window {tuple(self.sum_window.shape)}, sum_other "
                f"{tuple(self.sum_other.shape)}, sum_word {tuple(self.sum_word.shape)} for {len(self.words)} words"
            )

    @property
    def n_features(self) -> int:
        return int(self.sum_window.shape[-1])

    @staticmethod
    def _mean(total: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
        return total / count.clamp(min=1).to(total.dtype)

    @property
    def mean_window(self) -> torch.Tensor:
        return self._mean(self.sum_window, self.count_window)

    @property
    def mean_other(self) -> torch.Tensor:
        return self._mean(self.sum_other, self.count_other)

    @property
    def mean_word(self) -> torch.Tensor:
        """``[W, F]`` mean activation per word group."""
        return self.sum_word / self.count_word.clamp(min=1).to(self.sum_word.dtype)[:, None]
