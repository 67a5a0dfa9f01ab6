"""Steering reasoning features during generation (paper §4; issue #5).

* :func:`steer` / :func:`add_steering` — install SAE-feature (or direction) edits on a model for a
  block or until ``handle.remove()``; works in plain TransformerLens sessions and on nnsight.
* :func:`feature_steering` — one SAE-feature configuration (mode, strength, f_max, positions);
  :class:`Steering` — any edit at a site.
* :func:`generate` — new tokens and text per prompt, for baseline-vs-steered comparisons.
* :func:`estimate_f_max` / :func:`f_max_from_stats` — the activation scale γ multiplies.
* :func:`save_steering` / :func:`load_steering` — a steering setup as a JSON spec others can load.
"""

from tl_reasoning.steering.fmax import STATS_MAX_KEYS, estimate_f_max, f_max_from_stats
from tl_reasoning.steering.generation import Generation, generate
from tl_reasoning.steering.saved import SteeringSpecError, load_steering, save_steering
from tl_reasoning.steering.session import SteeringHandle, add_steering, resolve_token_id, steer
from tl_reasoning.steering.spec import Steering, feature_steering, intervention_factory

__all__ = [
    "STATS_MAX_KEYS",
    "Generation",
    "Steering",
    "SteeringHandle",
    "SteeringSpecError",
    "add_steering",
    "estimate_f_max",
    "f_max_from_stats",
    "feature_steering",
    "generate",
    "intervention_factory",
    "load_steering",
    "resolve_token_id",
    "save_steering",
    "steer",
]
