"""Scores of every feature from statistics: the ReasonScore table, candidate selection, saving.

Selection follows paper Eq. 6: feature i is a candidate if RS_i > τ with τ the q-quantile of all
scores (linear interpolation, numpy's default). Control scores come from registered scorers, run
on the same statistics.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from tl_reasoning.scoring.controls import top_word
from tl_reasoning.scoring.reason_score import reason_score, word_entropy
from tl_reasoning.stats import FeatureStats
from tl_reasoning.units import UNITS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_CONTROLS", "ScoreResult", "score_stats"]

#: Registered control scorers added as table columns by default.
DEFAULT_CONTROLS: tuple[str, ...] = ("separability", "word_concentration", "matched_share")


@dataclass
class ScoreResult:
    """ReasonScore of every feature with controls: ``table`` (one row per feature, best first)."""

    stats: FeatureStats
    scores: torch.Tensor
    table: pd.DataFrame
    alpha: float
    quantile: float
    threshold: float
    controls: tuple[str, ...] = ()

    @property
    def selected(self) -> list[int]:
        """Candidate reasoning features (score above the quantile threshold), best first."""
        return [int(f) for f in self.table.loc[self.table["selected"], "feature"]]

    def top(self, n: int = 10) -> pd.DataFrame:
        return self.table.head(n)

    def meta(self) -> dict[str, Any]:
        """The statistics' metadata, unit convention and scoring settings (written to ``meta.json``)."""
        return {**self.stats.meta, "units": UNITS, "words": self.stats.words,
                "tokens_seen": self.stats.tokens_seen, "docs_seen": self.stats.docs_seen,
                "scoring": {"alpha": self.alpha, "quantile": self.quantile, "threshold": self.threshold,
                            "n_selected": len(self.selected), "n_features": self.stats.n_features,
                            "controls": list(self.controls)}}

    def save(self, out_dir: str | os.PathLike[str], stats: bool = True) -> dict[str, Path]:
        """Write ``scores.csv``, ``meta.json`` and (``stats=True``) ``stats.safetensors`` into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"scores": out / "scores.csv", "meta": out / "meta.json"}
        _atomic_text(paths["scores"], self.table.to_csv(index=False))
        _atomic_text(paths["meta"], json.dumps(self.meta(), indent=2, default=str))
        if stats:
            paths["stats"] = self.stats.save(out / "stats.safetensors")
        return paths


def score_stats(
    stats: FeatureStats,
    *,
    alpha: float = 0.7,
    quantile: float = 0.997,
    controls: Sequence[str] = DEFAULT_CONTROLS,
    eps: float = 1e-12,
    check: bool = True,
) -> ScoreResult:
    """Score every feature of ``stats``; no model needed, so α, q and controls are cheap to change.

    ``check``: raise :class:`~tl_reasoning.stats_checks.DegenerateStatsError` when no score can be
    meaningful (no tokens counted, no vocabulary word in the corpus, or no token outside the windows).
    """
    import numpy as np
    import pandas as pd

    from tl_reasoning.plugins import get_registry

    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {quantile}")
    if check:
        from tl_reasoning.stats_checks import check_meaningful

        check_meaningful(stats)
    scores = reason_score(stats, alpha=alpha, eps=eps).double()
    threshold = float(np.quantile(scores.numpy(), quantile))
    order = sorted(range(stats.n_features), key=lambda i: (-float(scores[i]), i))
    rank = torch.empty(stats.n_features, dtype=torch.long)
    rank[order] = torch.arange(1, stats.n_features + 1)
    columns: dict[str, Any] = {
        "feature": np.arange(stats.n_features), "reason_score": scores.numpy(), "rank": rank.numpy(),
        "selected": (scores > threshold).numpy(),
        "mean_reasoning": stats.mean_window.double().numpy(), "mean_other": stats.mean_other.double().numpy(),
        "entropy": word_entropy(stats.mean_word.double(), eps).numpy(), "top_word": top_word(stats),
    }
    registry = get_registry("scorer")
    for name in controls:
        columns[name] = registry.get(name).obj(stats).double().cpu().numpy()
    if stats.max_activation is not None:
        columns["max_activation"] = stats.max_activation.double().numpy()
        columns["f_max_raw"] = stats.f_max(raw=True).double().numpy()
    if stats.hist is not None:
        columns["q99_active"] = stats.activation_quantile(0.99).numpy()
    table = pd.DataFrame(columns).iloc[order].reset_index(drop=True)
    return ScoreResult(stats, scores, table, float(alpha), float(quantile), threshold, tuple(controls))


def _atomic_text(path: Path, text: str) -> None:
    from tl_reasoning.scoring.outputs import write_atomic

    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
