"""Keep TransformerLens 3 ``TransformerBridge`` KV-cached generation correct on new transformers.

Root cause (transformers 5.24 with TransformerLens 3.9): transformers renamed the cache argument
that a decoder layer hands its attention module from ``past_key_values`` to ``cache``
(``@deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")``). The Bridge's attention
components re-implement attention and write keys/values into the cache in
``AttentionBridge._update_kv_cache``, which only looks for ``past_key_values`` (or ``layer_past``).
They find neither, skip the write, and the cache stays empty: every cached decoding step attends to
its own token alone, so ``generate(use_past_kv_cache=True)`` returns wrong tokens, steered or not.

:func:`repair_bridge_kv_cache` installs a forward pre-hook on each attention component that passes
the cache under both names. It is a no-op where the cache already arrives as ``past_key_values``
(transformers <= 5.23) or where TransformerLens reads ``cache`` itself, so it is safe on every
version. The hooks are plain torch pre-hooks on the attention modules, not on ``HookPoint``\\ s: they
are a correctness fix, so ``reset_hooks`` leaves them in place. The upstream report is in
``docs/upstream/transformerlens-bridge-kv-cache.md``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["repair_bridge_kv_cache"]

_MARK = "_tl_reasoning_kv_cache_repaired"


def _alias_cache(module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
    cache = kwargs.get("cache")
    if cache is None or kwargs.get("past_key_values") is not None:
        return None
    return args, {**kwargs, "past_key_values": cache}


def repair_bridge_kv_cache(bridge: Any) -> int:
    """Make ``bridge``'s attention components see the KV cache whatever transformers calls it.

    Idempotent; returns the number of attention components hooked by this call (0 when already
    repaired or when the installed TransformerLens has no ``AttentionBridge``).
    """
    if getattr(bridge, _MARK, False):
        return 0
    try:
        from transformer_lens.model_bridge.generalized_components.attention import AttentionBridge
    except ImportError:  # a TransformerLens without the 3.x component layout: nothing to repair
        return 0
    count = 0
    for module in bridge.modules():
        if isinstance(module, AttentionBridge):
            module.register_forward_pre_hook(_alias_cache, with_kwargs=True)
            count += 1
    object.__setattr__(bridge, _MARK, True)
    return count
