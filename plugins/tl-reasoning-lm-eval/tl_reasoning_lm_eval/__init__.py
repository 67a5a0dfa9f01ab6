"""tl-reasoning ⇄ lm-evaluation-harness.

* :class:`TLReasoningLM` — an lm-eval model running on any tl-reasoning backend with SAE-feature
  steering installed during each request batch; registered under the model type ``tl-reasoning``
  by :func:`register` (the ``tl-reasoning-lm-eval`` command does this, then runs lm-eval's CLI).
* :func:`export_benchmark_task` / :func:`export_corpus_task` — tl-reasoning benchmarks and corpora
  as offline lm-eval tasks; :func:`task_documents` — lm-eval task documents as tl-reasoning
  documents (the ``lm-eval`` corpus and benchmark of :mod:`tl_reasoning_lm_eval.plugin`).

Importing this package registers nothing and imports neither lm-eval nor torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["MODEL_TYPE", "TLReasoningLM", "export_benchmark_task", "export_corpus_task", "register",
           "task_documents"]

MODEL_TYPE = "tl-reasoning"
_ALIASES = (MODEL_TYPE, "tl_reasoning")
_LAZY = {
    "TLReasoningLM": "tl_reasoning_lm_eval.model",
    "export_benchmark_task": "tl_reasoning_lm_eval.tasks",
    "export_corpus_task": "tl_reasoning_lm_eval.tasks",
    "task_documents": "tl_reasoning_lm_eval.tasks",
}


def register() -> str:
    """Register :class:`TLReasoningLM` with lm-eval as ``tl-reasoning`` (and ``tl_reasoning``); idempotent.

    lm-eval 0.4 has no entry-point discovery for models, so this must run before
    ``lm_eval.simple_evaluate(model="tl-reasoning", ...)``; passing ``TLReasoningLM(...)`` itself
    needs no registration. lm-eval's own models are registered first, because its registry
    imports them only while it is empty.
    """
    import lm_eval.models  # noqa: F401  - registers lm-eval's built-in model types
    from lm_eval.api.registry import register_model

    from tl_reasoning_lm_eval.model import TLReasoningLM

    register_model(*_ALIASES)(TLReasoningLM)
    return MODEL_TYPE


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tl_reasoning_lm_eval' has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
