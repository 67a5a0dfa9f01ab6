"""tl-reasoning: find, explain and steer the reasoning features of language models.

Importing the package loads nothing heavy and no plugins; names resolve on first access.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from tl_reasoning.hookspecs import hookimpl

if TYPE_CHECKING:
    from tl_reasoning.backends.base import Backend, EditHandle, TokenBatch
    from tl_reasoning.corpora import load_benchmark, load_corpus
    from tl_reasoning.loading.models import load_model
    from tl_reasoning.loading.saes import check_sae_compatible, load_sae
    from tl_reasoning.plugins import backend_for, get_registry, load_plugins, registered_plugin
    from tl_reasoning.sae_weights import SAEWeights
    from tl_reasoning.sites import Site
    from tl_reasoning.stats import FeatureStats
    from tl_reasoning.views import View

__all__ = [
    "Backend",
    "EditHandle",
    "FeatureStats",
    "SAEWeights",
    "Site",
    "TokenBatch",
    "View",
    "__version__",
    "backend_for",
    "check_sae_compatible",
    "get_registry",
    "hookimpl",
    "load_benchmark",
    "load_corpus",
    "load_model",
    "load_plugins",
    "load_sae",
    "registered_plugin",
]

_LAZY = {
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
