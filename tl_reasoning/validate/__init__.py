"""Validation of the method against the organism's planted ground truth (issue 15, item 4).

* :mod:`.metrics` — precision, recall and average precision of a selector against a ground-truth set;
* :mod:`.selectors` — the ``random`` and ``output_score`` scorer plugins (ReasonScore and Cohen's d
  are the built-in ``reason_score`` and ``separability``);
* :mod:`.output_score` — the output score of every feature (Arad et al., arXiv 2505.20063);
* :mod:`.run` — :func:`validate`: the selector table and the steering dose-response
  (:class:`ValidationResult`), behind ``tl-reasoning validate``.

See ``docs/validate.md``.
"""

from tl_reasoning.validate.metrics import average_precision, precision, ranking_from_scores, recall, top_n
from tl_reasoning.validate.output_score import output_scores, reflection_token_ids
from tl_reasoning.validate.selectors import SELECTORS, output_score, random_scores

__all__ = [
    "SELECTORS",
    "average_precision",
    "output_score",
    "output_scores",
    "precision",
    "random_scores",
    "ranking_from_scores",
    "recall",
    "reflection_token_ids",
    "top_n",
]
