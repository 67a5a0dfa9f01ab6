"""``generate``: new tokens and text per prompt, optionally steered — for side-by-side comparisons.

Prompts are tokenized with BOS once and left-padded together, generated in one batch on any
backend (greedy by default), and returned per row without the prompt and without the padding after
an EOS. A strength sweep is one call: give the steering a ``[batch, k]`` strength.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from tl_reasoning.steering.push import PushReport, real_token_mask
from tl_reasoning.steering.session import SteeringHandle, add_steering
from tl_reasoning.steering.spec import Steering

__all__ = ["Generation", "generate"]


@dataclass(frozen=True)
class Generation:
    """One row of :func:`generate`."""

    prompt: str
    tokens: list[int]
    """New token ids (the first EOS included, nothing after it)."""
    text: str
    """The new tokens decoded, special tokens (BOS/EOS/pad) left out, ``</think>`` etc. kept."""
    push: tuple[PushReport, ...] = ()
    """ρ of each steering of this call, measured over the whole batch (empty: unsteered or remote)."""


def generate(
    model: Any,
    prompts: str | Sequence[str],
    max_new_tokens: int = 64,
    steering: Steering | Sequence[Steering] | None = None,
    *,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float | None = None,
    seed: int | None = None,
    use_cache: bool = True,
    stop_at_eos: bool = True,
    think_end: int | str = "</think>",
    remote: Any = None,
) -> list[Generation]:
    """Generate ``max_new_tokens`` per prompt with ``steering`` installed for this call only.

    ``steering`` is a :class:`Steering` (see :func:`~tl_reasoning.steering.spec.feature_steering`
    and :func:`~tl_reasoning.directions.direction_steering`), a list of them, or ``None`` for the
    unsteered baseline. Steering already installed on the model (``with steer(...)``) applies too.
    ``remote`` (nnsight models): ``True`` (NDIF), ``"local"`` (nnsight's simulation), a host URL or
    a :class:`~tl_reasoning.remote.RemoteTarget` — the same tokens as locally, every position rule.
    """
    from tl_reasoning.plugins import backend_for

    backend = backend_for(model)
    texts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not texts:
        raise ValueError("generate needs at least one prompt")
    batch = backend.tokenize(texts, padding_side="left")
    handle: SteeringHandle | None = None
    if steering is not None:
        handle = add_steering(model, steerings=steering, think_end=think_end,
                              measure=remote is None or remote is False)
        handle.set_prompt_mask(real_token_mask(backend, batch.input_ids, batch.attention_mask))
    try:
        with _remote_context(backend, remote):
            out = backend.generate(batch.input_ids, batch.attention_mask, max_new_tokens=max_new_tokens,
                                   do_sample=do_sample, temperature=temperature, top_p=top_p, seed=seed,
                                   use_cache=use_cache, stop_at_eos=stop_at_eos)
    finally:
        if handle is not None:
            handle.remove()
    push = tuple(handle.push()) if handle is not None else ()
    new = out[:, batch.input_ids.shape[1]:].tolist()
    skip = backend.special_token_ids
    results = []
    for prompt, row in zip(texts, new, strict=True):
        eos = backend.eos_token_id
        if stop_at_eos and eos is not None and eos in row:
            row = row[: row.index(eos) + 1]
        text = backend.decode([t for t in row if t not in skip])
        results.append(Generation(prompt, [int(t) for t in row], text, push))
    return results


def _remote_context(backend: Any, remote: Any) -> AbstractContextManager[Any]:
    """Run the backend's generation on ``remote`` (nothing to do for ``None``/``False``)."""
    if remote is None or remote is False:
        return nullcontext()
    if getattr(backend, "kind", None) != "nnsight":
        raise ValueError(f"remote generation needs an nnsight model (load_model(..., backend='nnsight')), not a "
                         f"{backend.kind} model")
    from tl_reasoning.remote.target import resolve_remote

    return backend.remote_execution(resolve_remote(remote))
