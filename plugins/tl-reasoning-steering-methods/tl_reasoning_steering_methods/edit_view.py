"""Where a steering acts: per-token size of its edit on a text, as coloured tokens.

Conditional, multiplicative and angular steering change some tokens much more than others, and
additive steering changes every token by the same vector but by very different *relative*
amounts. :func:`edit_profile` runs the model once on a text, takes the activations at the
steering's site and applies the steering's edit to them (its position rule and ``preserve_norm``
included), and reports per token the relative change ``‖x′ − x‖ / ‖x‖`` and the angle between
``x`` and ``x′``. :func:`steering_edit` shows it with circuitsvis ``ColoredTokens`` (hover a token
for its value); registered as the visualisation ``steering_edit``.

The activations are those of the unsteered model up to the site, so with several steerings
installed at earlier sites the picture shows this steering alone. Runs locally.
"""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["edit_profile", "steering_edit"]


def edit_profile(model: Any, steering: Any, text: str) -> dict[str, Any]:
    """Per-token ``tokens``, ``relative`` change ``‖x′−x‖/‖x‖``, ``angle`` (degrees) and ``delta`` (``‖x′−x‖``)."""
    from tl_reasoning import backend_for
    from tl_reasoning.interventions import preserve_norm
    from tl_reasoning.positions import PositionTracker, masked_edit

    backend = backend_for(model)
    batch = backend.tokenize([text])
    ids = batch.input_ids
    act = backend.capture(ids, [steering.site], batch.attention_mask)[steering.site]
    positions = torch.arange(act.shape[1], device=act.device)
    edit = preserve_norm(steering.edit) if steering.preserve_norm else steering.edit
    if steering.positions.needs_tokens:
        tracker = PositionTracker(backend.pad_token_id, backend.bos_token_id)
        tracker.observe(ids.to(act.device), positions)
        edit = masked_edit(edit, tracker, steering.positions)
    with torch.no_grad():
        new = edit(act, positions)
    x, y = act[0].double(), new[0].double()
    delta = (y - x).norm(dim=-1)
    norm = x.norm(dim=-1).clamp_min(1e-12)
    cos = (x * y).sum(-1) / (norm * y.norm(dim=-1).clamp_min(1e-12))
    angle = torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0)))
    return {"tokens": backend.to_str_tokens(ids[0]), "relative": (delta / norm).tolist(),
            "angle": angle.tolist(), "delta": delta.tolist()}


def steering_edit(model: Any, steering: Any, text: str, *, value: str = "relative",
                  title: str | None = None) -> Any:
    """A :class:`~tl_reasoning.View` colouring each token of ``text`` by how much ``steering`` changes it.

    :param value: ``relative`` (``‖x′−x‖/‖x‖``, default), ``angle`` (degrees) or ``delta`` (``‖x′−x‖``).
    """
    from tl_reasoning.views import Component, View, cv_tokens, esc

    profile = edit_profile(model, steering, text)
    if value not in ("relative", "angle", "delta"):
        raise ValueError(f"value={value!r} is not known; use 'relative', 'angle' or 'delta'")
    values = profile[value]
    top = max(values) if values else 0.0
    info = dict(steering.info)
    label = title or f"Steering edit ({info.get('mode', 'edit')} {info.get('features', '')}) at {steering.site}"
    changed = sum(1 for v in profile["delta"] if v > 0)
    meta = (f"<p class='tlr-meta'>{esc(value)} per token; {changed} of {len(values)} tokens changed; "
            f"max {esc(f'{top:.4g}')}</p>")
    props = {"tokens": cv_tokens(profile["tokens"]), "values": values, "minValue": 0.0,
             "maxValue": top if top > 0 and math.isfinite(top) else 1.0}
    return View([meta, Component("ColoredTokens", props)], label, {**profile, "value": value, "changed": changed})
