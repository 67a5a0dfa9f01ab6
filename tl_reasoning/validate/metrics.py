"""Ranking metrics of a feature selector against a ground-truth feature set.

* :func:`precision` — share of the selected features that are ground truth (``|S ∩ T| / |S|``);
* :func:`recall` — share of the ground truth that was selected (``|S ∩ T| / |T|``);
* :func:`average_precision` — standard AP of a full ranking: the mean, over the ground-truth
  items, of precision@k at the rank k where each one appears (``Σ_{k: r_k ∈ T} P@k / |T|``);
  a ground-truth item the ranking never lists contributes 0. A perfect ranking scores 1; a random
  one about ``|T| / n``.

Undefined values (an empty selection's precision, anything against an empty ground truth) are NaN,
never 0, so a table cannot pass an undefined number off as a measured one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["average_precision", "precision", "ranking_from_scores", "recall", "top_n"]


def _set(items: Iterable[Any]) -> set[int]:
    return {int(i) for i in items}


def precision(selected: Iterable[int], truth: Iterable[int]) -> float:
    """``|selected ∩ truth| / |selected|`` (NaN for an empty selection)."""
    chosen, true = _set(selected), _set(truth)
    return len(chosen & true) / len(chosen) if chosen else math.nan


def recall(selected: Iterable[int], truth: Iterable[int]) -> float:
    """``|selected ∩ truth| / |truth|`` (NaN for an empty ground truth)."""
    chosen, true = _set(selected), _set(truth)
    return len(chosen & true) / len(true) if true else math.nan


def average_precision(ranking: Sequence[int], truth: Iterable[int]) -> float:
    """Average precision of ``ranking`` (best first) against ``truth`` (NaN for an empty ground truth).

    Duplicates in ``ranking`` count at their first rank only.
    """
    true = _set(truth)
    if not true:
        return math.nan
    seen: set[int] = set()
    hits = 0
    total = 0.0
    rank = 0
    for item in ranking:
        item = int(item)
        if item in seen:
            continue
        seen.add(item)
        rank += 1
        if item in true:
            hits += 1
            total += hits / rank
    return total / len(true)


def ranking_from_scores(scores: Any) -> list[int]:
    """Feature indices by descending score (ties: lower index first; NaN scores last)."""
    import torch

    values = torch.as_tensor(scores, dtype=torch.float64).reshape(-1)
    keyed = torch.where(torch.isnan(values), torch.full_like(values, -math.inf), values)
    # a stable sort of the negated scores keeps the lower index first among ties
    order = torch.argsort(-keyed, stable=True)
    return [int(i) for i in order]


def top_n(scores: Any, n: int) -> list[int]:
    """The ``n`` best features of ``scores`` (see :func:`ranking_from_scores`)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return ranking_from_scores(scores)[:n]
