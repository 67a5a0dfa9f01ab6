"""Built-in scorers: ReasonScore and the control scores computed from the same statistics."""

from __future__ import annotations

from typing import Any

from tl_reasoning.hookspecs import hookimpl


@hookimpl
def tl_reasoning_register_scorers(register: Any) -> None:
    from tl_reasoning.scoring.controls import matched_share, separability, word_concentration
    from tl_reasoning.scoring.reason_score import reason_score
    from tl_reasoning.validate.selectors import output_score, random_scores

    register("reason_score", reason_score, "ReasonScore (paper Eq. 5): window-specific activation mass × word entropy^α")
    register("separability", separability, "control: Cohen's d of window vs other tokens (higher = separates)")
    register("word_concentration", word_concentration,
             "control: max share of one word group in the per-word means (1 = single-word detector)")
    register("matched_share", matched_share,
             "control: share of window activation mass on the matched word tokens (1 = token detector)")
    register("random", random_scores, "baseline: seeded uniform random scores (option seed); the chance level")
    register("output_score", output_score,
             "output score (Arad et al. 2025): rise of the reflection words' logits when the feature is steered at "
             "a fixed rho (options model, sae, contexts, rho)")
