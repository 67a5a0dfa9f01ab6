"""Steering methods from the literature as tl-reasoning interventions, plus a view of where they act.

Installed, they are modes of ``tl_reasoning.feature_steering(..., mode=...)`` and
``tl-reasoning steer --mode ...``:

* ``angular`` — rotate the activation toward the feature direction, norm preserved
  (:mod:`~tl_reasoning_steering_methods.rotation`; Vu & Nguyen 2025);
* ``conditional`` — add the feature only where a condition holds (the latent fires, other latents
  fire, or a CAST condition direction matches; :mod:`~tl_reasoning_steering_methods.gating`);
* ``scale`` — multiply the latent (or its projection) by ``1 + γ``
  (:mod:`~tl_reasoning_steering_methods.scaling`).

The visualisation ``steering_edit`` colours the tokens of a text by how much a steering changes
them. Every edit function is plain torch on tensors it closes over, so it also runs inside remote
nnsight traces. Importing this package loads nothing else.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["angular", "conditional", "edit_profile", "scale", "steering_edit"]

_LAZY = {
    "angular": "tl_reasoning_steering_methods.rotation",
    "conditional": "tl_reasoning_steering_methods.gating",
    "scale": "tl_reasoning_steering_methods.scaling",
    "edit_profile": "tl_reasoning_steering_methods.edit_view",
    "steering_edit": "tl_reasoning_steering_methods.edit_view",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tl_reasoning_steering_methods' has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
