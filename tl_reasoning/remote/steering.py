"""Steered generation on a remote target: the backend's edits shipped inside one ``generate`` trace.

The trace body references only the model envoy, plain values (sites, token ids) and the edit
closures — plain torch over cloned :class:`~tl_reasoning.sae_weights.SAEWeights` columns or a
direction — so it serializes to NDIF. Edits run per step of a bounded ``tracer.iter[:N]`` exactly
as in the local nnsight backend, so the tokens are the same. Token observers (position rules
``thinking``, ``after_prompt`` …) travel with their tracker, whose state lives on the server for
the duration of the request.
"""

from __future__ import annotations

from typing import Any

import torch

from tl_reasoning.backends.nnsight import apply_site_edits

__all__ = ["generate_remote"]


def generate_remote(
    backend: Any, target: Any, inputs: dict[str, torch.Tensor], kwargs: dict[str, Any], max_new_tokens: int,
    prompt_len: int, use_cache: bool,
) -> torch.Tensor:
    """``[batch, prompt + max_new_tokens]`` ids generated on ``target`` with ``backend``'s edits applied."""
    model = backend.model
    layers_path = backend._layers_path
    embed_path = backend._embed_path() if backend._observers else None
    edits = [(h.site, h.fn) for h in sorted(backend._edits, key=lambda h: h.site.order)]
    observers = [h.fn for h in backend._observers]
    inputs = {k: v.cpu() for k, v in inputs.items()}
    with target.running(), torch.no_grad():
        with model.generate(inputs, **kwargs, **target.trace_kwargs(model)) as tracer:
            if edits or observers:
                for step in tracer.iter[:max_new_tokens]:
                    start = None if (not use_cache or step == 0) else prompt_len + step - 1
                    apply_site_edits(model, layers_path, embed_path, edits, observers, start)
            out = tracer.result.save()
    return out.detach().to(backend.device)
