"""Feature scores: one-pass statistics (:mod:`.collect`), ReasonScore, controls, selection, injection test."""

from tl_reasoning.scoring.api import score_features
from tl_reasoning.scoring.collect import collect_stats
from tl_reasoning.scoring.config import StatsConfig
from tl_reasoning.scoring.controls import matched_share, separability, word_concentration
from tl_reasoning.scoring.injection import injection_test
from tl_reasoning.scoring.kernels import accumulate
from tl_reasoning.scoring.reason_score import reason_score, word_entropy
from tl_reasoning.scoring.result import ScoreResult, score_stats

__all__ = [
    "ScoreResult",
    "StatsConfig",
    "accumulate",
    "collect_stats",
    "injection_test",
    "matched_share",
    "reason_score",
    "score_features",
    "score_stats",
    "separability",
    "word_concentration",
    "word_entropy",
]
