"""Install steering on a model: ``with steer(...)`` or ``handle = add_steering(...); handle.remove()``.

Edits are installed through the model's backend (torch hooks on TransformerLens hook points, edits
inside the backend's traces for nnsight), so inside ``with steer(model, ...)`` a plain
TransformerLens ``model.generate(...)`` is steered too. Position rules other than ``all`` add one
token observer feeding a :class:`~tl_reasoning.positions.PositionTracker` that every edit reads.
Everything installed is removed on every path: ``remove()``, leaving the block, exceptions inside
the block or during installation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tl_reasoning.backends.base import Backend, EditHandle, TokenObserverHandle
from tl_reasoning.interventions.common import preserve_norm
from tl_reasoning.positions import PositionTracker, masked_edit
from tl_reasoning.steering.push import PushMeter, PushReport
from tl_reasoning.steering.spec import Steering, feature_steering

__all__ = ["SteeringHandle", "add_steering", "resolve_token_id", "steer"]


class SteeringHandle:
    """Installed steering; ``remove()`` (idempotent) or use as a context manager to undo it."""

    def __init__(self, backend: Backend, steerings: Sequence[Steering]) -> None:
        self.backend = backend
        self.steerings = list(steerings)
        self.edits: list[EditHandle] = []
        self.observer: TokenObserverHandle | None = None
        self.tracker: PositionTracker | None = None
        self.meters: list[PushMeter] = []

    def set_prompt_mask(self, mask: Any) -> None:
        """Tell the push meters which prompt tokens are real (``[batch, prompt_len]``, no BOS, no padding)."""
        for meter in self.meters:
            meter.prompt_mask = mask

    def push(self) -> list[PushReport]:
        """ρ = ‖Δ‖ / mean‖x‖ of each steering so far (empty when installed with ``measure=False``)."""
        return [meter.report() for meter in self.meters]

    @property
    def active(self) -> bool:
        return any(h.active for h in self.edits) or (self.observer is not None and self.observer.active)

    def remove(self) -> None:
        """Remove every edit and the token observer (each removal is attempted even if one fails)."""
        errors: list[BaseException] = []
        for handle in [*self.edits, *([self.observer] if self.observer else [])]:
            try:
                handle.remove()
            except Exception as exc:  # keep removing the others
                errors.append(exc)
        if errors:
            raise errors[0]

    def describe(self) -> list[dict[str, Any]]:
        """What each installed steering does (site, mode, features, strengths, positions...)."""
        return [{"site": s.site, **s.info} for s in self.steerings]

    def __enter__(self) -> SteeringHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def resolve_token_id(backend: Backend, token: int | str) -> int:
    """The id of ``token`` (an id, or a string that must be exactly one token of the tokenizer)."""
    if isinstance(token, int):
        return token
    tok = backend.tokenizer
    ids = list(tok(token, add_special_tokens=False)["input_ids"])
    if len(ids) == 1:
        return int(ids[0])
    raise ValueError(
        f"{token!r} is {len(ids)} tokens for this tokenizer, not one, so the end of the thinking section cannot "
        "be detected; pass think_end=<token id> (the id this model emits to close its reasoning)"
    )


def add_steering(
    model: Any,
    sae: Any = None,
    features: int | Sequence[int] | None = None,
    *,
    steerings: Sequence[Steering] | Steering = (),
    think_end: int | str = "</think>",
    measure: bool = True,
    **kwargs: Any,
) -> SteeringHandle:
    """Steer ``model`` until the returned handle is removed.

    Either give an SAE and ``features`` (keyword arguments as in
    :func:`~tl_reasoning.steering.spec.feature_steering`: ``strength``, ``mode``, ``f_max``,
    ``stats``, ``positions``, ``site``, ``preserve_norm``, intervention options), or ready
    :class:`Steering` objects in ``steerings`` (several SAEs, sites or directions at once), or
    both. ``think_end`` is the token closing the thinking section (for ``positions="thinking"``).
    ``measure``: record the push ρ of each steering (:meth:`SteeringHandle.push`); turn it off for
    edits that run inside remote traces.
    """
    from tl_reasoning.plugins import backend_for

    items = [steerings] if isinstance(steerings, Steering) else list(steerings)
    if sae is not None:
        if features is None:
            raise ValueError("steering with an SAE needs features=[...] (the SAE feature indices)")
        items.insert(0, feature_steering(sae, features, **kwargs))
    elif features is not None or kwargs:
        raise ValueError("features and steering options need an sae; pass sae=... (or ready steerings=[...])")
    if not items:
        raise ValueError("nothing to steer: pass an sae with features, or steerings=[...]")
    backend = backend_for(model)
    for item in items:
        site = backend.check_site(item.site)
        if item.d_in is not None and item.d_in != backend.d_model:
            raise ValueError(f"the steering at {site.name} expects width {item.d_in} but the model's d_model is "
                             f"{backend.d_model}; use an SAE or direction made for this model")
    handle = SteeringHandle(backend, items)
    try:
        if any(item.positions.needs_tokens for item in items):
            needs_end = any(item.positions.mode == "thinking" for item in items)
            tracker = PositionTracker(backend.pad_token_id, backend.bos_token_id,
                                      resolve_token_id(backend, think_end) if needs_end else None)
            handle.tracker = tracker
            handle.observer = backend.add_token_observer(tracker.observe, on_reset=tracker.reset)
        for item in items:
            edit = preserve_norm(item.edit) if item.preserve_norm else item.edit
            if handle.tracker is not None:
                edit = masked_edit(edit, handle.tracker, item.positions)
            if measure:
                meter = PushMeter(backend.check_site(item.site).name)
                handle.meters.append(meter)
                edit = meter.wrap(edit)
            handle.edits.append(backend.add_edit(item.site, edit))
    except BaseException:
        handle.remove()
        raise
    return handle


@contextmanager
def steer(
    model: Any,
    sae: Any = None,
    features: int | Sequence[int] | None = None,
    **kwargs: Any,
) -> Iterator[SteeringHandle]:
    """``with steer(model, sae, features=[...], strength=2.0, mode="add", f_max=..., positions="all"):``

    Everything run on ``model`` inside the block is steered — the backend's ``generate`` and, for
    TransformerLens models, the user's own ``model.generate`` / ``run_with_cache``. Arguments as in
    :func:`add_steering`; the steering is removed when the block ends, also on an exception.
    """
    handle = add_steering(model, sae, features, **kwargs)
    try:
        yield handle
    finally:
        handle.remove()
