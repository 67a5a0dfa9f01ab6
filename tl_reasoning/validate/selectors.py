"""Feature selectors as scorer plugins: ``fn(stats, **options) -> [d_sae]`` scores, higher = more reasoning.

ReasonScore (``reason_score``) and Cohen's d (``separability``) already are scorers; this module
adds the two baselines the validation compares them with:

* ``random`` — seeded uniform scores: the chance level of every ranking metric;
* ``output_score`` — what steering the feature does to the reflection words' logits
  (:func:`tl_reasoning.validate.output_score.output_scores`); it needs the model, the SAE and
  contexts, which statistics alone do not hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["SELECTORS", "output_score", "random_scores"]

#: The selectors a validation compares, in table order (all registered scorers).
SELECTORS: tuple[str, ...] = ("reason_score", "separability", "output_score", "random")


def random_scores(stats: Any, *, seed: int = 0, **_: Any) -> torch.Tensor:
    """``[d_sae]`` uniform random scores from ``torch.Generator().manual_seed(seed)`` (same seed, same scores)."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.rand(int(stats.n_features), generator=generator, dtype=torch.float64)


def output_score(stats: Any, *, model: Any = None, sae: Any = None, contexts: Sequence[str] | None = None,
                 rho: float = 0.2, **options: Any) -> torch.Tensor:
    """``[d_sae]`` output scores (Arad et al. 2025) with the statistics' own reasoning vocabulary.

    Options: ``model``, ``sae``, ``contexts`` (required), ``rho`` (default 0.2) and the keyword
    arguments of :func:`~tl_reasoning.validate.output_score.output_scores`.
    """
    missing = [name for name, value in (("model", model), ("sae", sae), ("contexts", contexts)) if value is None]
    if missing:
        raise ValueError(f"the output_score scorer needs {', '.join(f'{m}=' for m in missing)}: it steers every feature "
                         "of the SAE on contexts of the reasoning corpus and reads the model's logits, so statistics "
                         "alone cannot give it (call it as scorer(stats, model=..., sae=..., contexts=[texts]))")
    from tl_reasoning.validate.output_score import output_scores

    if "vocab" not in options and "token_ids" not in options:
        options["vocab"] = (getattr(stats, "meta", None) or {}).get("config", {}).get("vocab")
    scores = output_scores(model, sae, list(contexts), rho=rho, **options)
    if scores.numel() != int(stats.n_features):
        raise ValueError(f"the SAE has {scores.numel()} features but the statistics {int(stats.n_features)}; "
                         "pass the SAE the statistics were computed with")
    return scores
