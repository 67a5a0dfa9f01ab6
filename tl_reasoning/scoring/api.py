"""``score_features``: ReasonScore of every SAE feature in one call from a Python session."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from tl_reasoning.scoring.collect import collect_stats
from tl_reasoning.scoring.config import StatsConfig
from tl_reasoning.scoring.result import DEFAULT_CONTROLS, ScoreResult, score_stats

__all__ = ["score_features"]


def score_features(
    model: Any,
    sae: Any,
    data: Any,
    *,
    vocab: Any = None,
    window: tuple[int, int] = (1, 2),
    alpha: float = 0.7,
    quantile: float = 0.997,
    decoder_norm: bool = True,
    word_boundary: bool = True,
    context_size: int | None = None,
    batch_size: int = 8,
    max_tokens: int | None = None,
    max_docs: int | None = None,
    site: str | None = None,
    text_field: str = "text",
    controls: Sequence[str] = DEFAULT_CONTROLS,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 0,
    progress: bool = False,
    remote: Any = None,
    remote_mode: str = "auto",
    remote_dtype: Any = None,
    remote_batches: int = 8,
) -> ScoreResult:
    """Collect statistics over ``data`` in one pass and score every feature of ``sae``.

    ``model``: a HookedTransformer, TransformerBridge or nnsight model (or a backend); ``sae``: a
    sae-lens SAE on one of its sites; ``data``: a corpus spec (``"organism:reasoning"``, a
    ``.txt``/``.jsonl``/``.parquet`` file, a datasets directory) or a list of texts or dicts.
    ``vocab``: the paper's 10 words by default, else words, a ``{group: [variants]}`` map or a
    file. ``window``: tokens (before, after) each match — ``(1, 2)`` as the official code,
    ``(2, 3)`` as the paper's text. Returns a :class:`ScoreResult` whose ``table`` is a pandas
    DataFrame (one row per feature, best first) and whose ``selected`` lists the features above
    the ``quantile`` of all scores. ``remote``/``remote_mode``/``remote_dtype``/``remote_batches``:
    run the model on NDIF or another nnsight server (see :func:`~tl_reasoning.scoring.collect_stats`).

    Example::

        result = tl_reasoning.score_features(model, sae, "organism:reasoning", max_tokens=50_000)
        result.table.head(10)
    """
    config = StatsConfig(window=tuple(window), decoder_norm=decoder_norm, word_boundary=word_boundary,
                         context_size=context_size, batch_size=batch_size, max_tokens=max_tokens, max_docs=max_docs)
    # a corpus spec is recorded, so `tl-reasoning dashboard --scores DIR` finds the data again
    sources = {"data": os.fspath(data), "text_field": text_field} if isinstance(data, (str, os.PathLike)) else None
    stats = collect_stats(model, sae, data, vocab=vocab, config=config, site=site, text_field=text_field,
                          sources=sources,
                          checkpoint=checkpoint, checkpoint_every=checkpoint_every, progress=progress,
                          remote=remote, remote_mode=remote_mode, remote_dtype=remote_dtype,
                          remote_batches=remote_batches)
    return score_stats(stats, alpha=alpha, quantile=quantile, controls=controls)
