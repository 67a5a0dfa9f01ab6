"""Built-in backend adapters: HookedTransformer, TransformerBridge and nnsight models.

Answers ``trylast`` so a third-party plugin can take over any model type. Model classes are
recognised by their module path, so answering never imports a library the user did not load.
"""

from __future__ import annotations

from typing import Any

from tl_reasoning.hookspecs import hookimpl


def _mro_names(model: Any) -> set[str]:
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(model).__mro__}


@hookimpl(trylast=True)
def tl_reasoning_backend(model: Any) -> Any:
    names = _mro_names(model)
    if any(n.startswith("transformer_lens.model_bridge") and n.endswith(".TransformerBridge") for n in names):
        from tl_reasoning.backends.transformer_lens import BridgeBackend

        return BridgeBackend(model)
    if "transformer_lens.HookedTransformer.HookedTransformer" in names:
        from tl_reasoning.backends.transformer_lens import HookedTransformerBackend

        return HookedTransformerBackend(model)
    if any(n.startswith("nnsight.") for n in names) and hasattr(model, "_module"):
        from tl_reasoning.backends.nnsight import NNsightBackend

        return NNsightBackend(model)
    return None
