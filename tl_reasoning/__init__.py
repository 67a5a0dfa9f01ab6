"""tl-reasoning: find, explain and steer the reasoning features of language models.

Importing the package loads nothing heavy and no plugins; names resolve on first access.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from tl_reasoning.hookspecs import hookimpl

if TYPE_CHECKING:
    from tl_reasoning.autointerp import interpret, load_evidence
    from tl_reasoning.backends.base import Backend, EditHandle, TokenBatch
    from tl_reasoning.corpora import load_benchmark, load_corpus
    from tl_reasoning.demo import DemoConfig, run_demo
    from tl_reasoning.diffing import PresenceResult, cross_layer_presence, diff_presence, match_decoders
    from tl_reasoning.evaluation import (
        EvalItem,
        EvaluationResult,
        RandomWordBans,
        WordBan,
        check_answer,
        evaluate,
        extract_answer,
        load_eval_benchmark,
        matched_random_features,
        paired_bootstrap,
        random_feature_conditions,
        steering_conditions,
        word_ban,
    )
    from tl_reasoning.loading.models import load_model
    from tl_reasoning.loading.saes import check_sae_compatible, load_sae
    from tl_reasoning.neuronpedia import export_neuronpedia
    from tl_reasoning.plugins import backend_for, get_registry, load_plugins, plugin_report, registered_plugin
    from tl_reasoning.sae_weights import SAEWeights
    from tl_reasoning.scoring import (
        ScoreResult,
        StatsConfig,
        collect_stats,
        injection_test,
        score_features,
        score_stats,
    )
    from tl_reasoning.sites import Site
    from tl_reasoning.stats import FeatureStats
    from tl_reasoning.views import View
    from tl_reasoning.vocab import Vocabulary, expand_vocabulary, load_vocabulary, mine_vocabulary

__all__ = [
    "Backend",
    "DemoConfig",
    "EditHandle",
    "EvalItem",
    "EvaluationResult",
    "FeatureStats",
    "Generation",
    "Positions",
    "PresenceResult",
    "RandomWordBans",
    "RemoteTarget",
    "SAEWeights",
    "ScoreResult",
    "Site",
    "StatsConfig",
    "Steering",
    "SteeringHandle",
    "TokenBatch",
    "View",
    "Vocabulary",
    "WordBan",
    "__version__",
    "add_steering",
    "backend_for",
    "check_answer",
    "check_sae_compatible",
    "collect_stats",
    "cross_layer_presence",
    "diff_presence",
    "direction_steering",
    "estimate_f_max",
    "evaluate",
    "expand_vocabulary",
    "export_neuronpedia",
    "extract_answer",
    "f_max_from_stats",
    "feature_dashboard",
    "feature_steering",
    "generate",
    "get_registry",
    "hookimpl",
    "injection_test",
    "interpret",
    "load_benchmark",
    "load_corpus",
    "load_eval_benchmark",
    "load_evidence",
    "load_model",
    "load_plugins",
    "load_sae",
    "load_steering",
    "load_vocabulary",
    "match_decoders",
    "matched_random_features",
    "mine_vocabulary",
    "paired_bootstrap",
    "plugin_report",
    "random_feature_conditions",
    "reasoning_direction",
    "registered_plugin",
    "run_demo",
    "save_steering",
    "score_features",
    "score_stats",
    "steer",
    "steering_conditions",
    "word_ban",
]

_LAZY = {
    "RemoteTarget": "tl_reasoning.remote.target",
    "Backend": "tl_reasoning.backends.base",
    "EditHandle": "tl_reasoning.backends.base",
    "TokenBatch": "tl_reasoning.backends.base",
    "FeatureStats": "tl_reasoning.stats",
    "SAEWeights": "tl_reasoning.sae_weights",
    "Site": "tl_reasoning.sites",
    "View": "tl_reasoning.views",
    "__version__": "tl_reasoning._version",
    "backend_for": "tl_reasoning.plugins",
    "get_registry": "tl_reasoning.plugins",
    "load_plugins": "tl_reasoning.plugins",
    "registered_plugin": "tl_reasoning.plugins",
    "load_model": "tl_reasoning.loading.models",
    "load_corpus": "tl_reasoning.corpora",
    "load_benchmark": "tl_reasoning.corpora",
    "load_sae": "tl_reasoning.loading.saes",
    "check_sae_compatible": "tl_reasoning.loading.saes",
    "ScoreResult": "tl_reasoning.scoring",
    "StatsConfig": "tl_reasoning.scoring",
    "collect_stats": "tl_reasoning.scoring",
    "injection_test": "tl_reasoning.scoring",
    "score_features": "tl_reasoning.scoring",
    "score_stats": "tl_reasoning.scoring",
    "Vocabulary": "tl_reasoning.vocab",
    "expand_vocabulary": "tl_reasoning.vocab",
    "load_vocabulary": "tl_reasoning.vocab",
    "mine_vocabulary": "tl_reasoning.vocab",
    "Generation": "tl_reasoning.steering",
    "Positions": "tl_reasoning.positions",
    "Steering": "tl_reasoning.steering",
    "SteeringHandle": "tl_reasoning.steering",
    "add_steering": "tl_reasoning.steering",
    "direction_steering": "tl_reasoning.directions",
    "estimate_f_max": "tl_reasoning.steering",
    "f_max_from_stats": "tl_reasoning.steering",
    "feature_steering": "tl_reasoning.steering",
    "generate": "tl_reasoning.steering",
    "reasoning_direction": "tl_reasoning.directions",
    "steer": "tl_reasoning.steering",
    "load_steering": "tl_reasoning.steering",
    "save_steering": "tl_reasoning.steering",
    "feature_dashboard": "tl_reasoning.dashboard",
    "evaluate": "tl_reasoning.evaluation",
    "EvaluationResult": "tl_reasoning.evaluation",
    "load_eval_benchmark": "tl_reasoning.evaluation",
    "EvalItem": "tl_reasoning.evaluation",
    "steering_conditions": "tl_reasoning.evaluation",
    "random_feature_conditions": "tl_reasoning.evaluation",
    "matched_random_features": "tl_reasoning.evaluation",
    "WordBan": "tl_reasoning.evaluation",
    "RandomWordBans": "tl_reasoning.evaluation",
    "word_ban": "tl_reasoning.evaluation",
    "paired_bootstrap": "tl_reasoning.evaluation",
    "extract_answer": "tl_reasoning.evaluation",
    "check_answer": "tl_reasoning.evaluation",
    "match_decoders": "tl_reasoning.diffing",
    "diff_presence": "tl_reasoning.diffing",
    "cross_layer_presence": "tl_reasoning.diffing",
    "PresenceResult": "tl_reasoning.diffing",
    "run_demo": "tl_reasoning.demo",
    "DemoConfig": "tl_reasoning.demo",
    "plugin_report": "tl_reasoning.plugins",
    "interpret": "tl_reasoning.autointerp",
    "load_evidence": "tl_reasoning.autointerp",
    "export_neuronpedia": "tl_reasoning.neuronpedia",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tl_reasoning' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
