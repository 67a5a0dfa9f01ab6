"""A small organism dashboard shared by the dashboard tests (built once per session)."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

N_FEATURES = 8
N_DOCS = 40


@lru_cache(maxsize=1)
def organism_setup() -> tuple[Any, Any, Any]:
    """(model, sae, ScoreResult over N_DOCS reasoning documents)."""
    import tl_reasoning

    model, sae = tl_reasoning.load_model("organism"), tl_reasoning.load_sae("organism")
    result = tl_reasoning.score_features(model, sae, "organism:reasoning", max_docs=N_DOCS)
    return model, sae, result


@lru_cache(maxsize=1)
def organism_dashboard_html() -> tuple[str, list[int], float]:
    """(page, features, build seconds) of the top N_FEATURES features."""
    from tl_reasoning.dashboard import feature_dashboard

    model, sae, result = organism_setup()
    start = time.perf_counter()
    board = feature_dashboard(model, sae, result, "organism:reasoning", top=N_FEATURES, max_docs=N_DOCS,
                              contexts=5, model_name="organism", sae_name="organism")
    return board.html, board.features, time.perf_counter() - start
