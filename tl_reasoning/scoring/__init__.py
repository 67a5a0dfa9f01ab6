"""Feature scores computed from :class:`~tl_reasoning.stats.FeatureStats`."""

from tl_reasoning.scoring.reason_score import reason_score, word_entropy

__all__ = ["reason_score", "word_entropy"]
