"""Conditional steering: add the feature only at tokens where a condition holds.

After Lee et al., "Programming Refusal with Conditional Activation Steering" (CAST, ICLR 2025,
arXiv:2409.05907): a *condition* read from the hidden state decides whether the *behaviour*
vector is added. Here the behaviour is the paper's additive SAE edit ``γ·f_max·d_i`` (summed
over the features, per-row strengths allowed; ``d_i = decode(e_i) − decode(0)``, ``f_max`` in
``sae.encode`` units) and the condition is one of

* ``condition=None`` (default): the steered features' own SAE latents — steer where the feature
  already fires (``f_i(x) > threshold``, any of the features; Goodfire-style ``set_when``);
* a :class:`~tl_reasoning.interventions.LatentReader` or :class:`~tl_reasoning.SAEWeights` of
  *other* SAE latents — steer where those fire (e.g. "only while the model is doing arithmetic");
* a ``[d_model]`` tensor ``c`` — CAST's condition direction: the score is the cosine similarity
  ``cos(h, c)`` (CAST thresholds a similarity between ``h`` and its projection on ``c``; the signed
  cosine keeps the direction's sign and needs no extra non-linearity).

``compare="above"`` gates ``score > threshold``, ``"below"`` gates ``score < threshold`` (with
latents, the score is the maximum over them). ``scope="token"`` (default) decides per token;
``scope="sequence"`` latches like CAST: once the condition has held at some token of a row, every
later token of that row is steered too. The latch state lives in the edit (per generation: it
restarts at every call that begins at position 0, and is carried across KV-cache decoding steps),
so cached and uncached generation agree. It sees only the positions its ``positions=`` rule lets
through, and left-padding tokens of a batch count like any other token.

Latents are read exactly for ReLU and JumpReLU SAEs from the selected columns. For TopK SAEs pass
``latents=LatentReader.from_sae(sae, features)`` (or ``condition=LatentReader.from_sae(sae, [j])``);
otherwise the ReLU of the pre-activation is used, an upper bound of the TopK activation.

``strength = 0`` leaves every activation bit-identical. The edit is plain torch on tensors it closes
over (remote-safe for NDIF).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["conditional"]

_COMPARES = ("above", "below")
_SCOPES = ("token", "sequence")


def _score_function(weights: Any, condition: Any, latents: Any, eps: float) -> Any:
    """A plain-torch ``score(act [b, t, d]) -> [b, t]`` for the condition."""
    from tl_reasoning.interventions.latents import LatentReader
    from tl_reasoning.sae_weights import SAEWeights

    if condition is None:
        reader = latents if latents is not None else LatentReader.from_weights(weights)
    elif isinstance(condition, LatentReader):
        reader = condition
    elif isinstance(condition, SAEWeights):
        reader = LatentReader.from_weights(condition)
    elif isinstance(condition, torch.Tensor) or (isinstance(condition, Sequence) and not isinstance(condition, str)):
        direction = torch.as_tensor(condition, dtype=torch.float32).detach().flatten().cpu()
        d_in = int(weights.directions.shape[1])
        if direction.numel() != d_in:
            raise ValueError(f"a condition direction must have d_model={d_in} values, got {direction.numel()}")
        length = float(direction.norm())
        if length == 0.0:
            raise ValueError("the condition direction is zero; give a non-zero [d_model] vector")
        unit = (direction / length).contiguous()

        def cosine(act: torch.Tensor) -> torch.Tensor:
            c = unit.to(device=act.device, dtype=act.dtype)
            return (act @ c) / act.norm(dim=-1).clamp_min(eps)

        return cosine
    else:
        raise TypeError(f"condition must be None, a LatentReader, SAEWeights or a [d_model] tensor, "
                        f"not {type(condition).__name__}")
    if condition is None and reader.features != weights.features:
        raise ValueError("latents were built for other features than the SAE weights; build them with "
                         "LatentReader.from_sae(sae, features) for the steered features")
    encode = reader.function()

    def strongest_latent(act: torch.Tensor) -> torch.Tensor:
        return encode(act).max(dim=-1).values

    return strongest_latent


def conditional(
    weights: Any,
    features: Sequence[int],
    strength: Any,
    f_max: Any,
    *,
    condition: Any = None,
    threshold: float = 0.0,
    compare: str = "above",
    scope: str = "token",
    latents: Any = None,
    eps: float = 1e-6,
) -> Any:
    """Edit adding ``strength·f_max·d_i`` (summed over features) where the condition holds.

    :param condition: ``None`` (the steered latents), a ``LatentReader`` / ``SAEWeights`` of other
        latents, or a ``[d_model]`` direction (cosine similarity); see the module docstring.
    :param threshold: the score must exceed (``compare="above"``) or stay below (``"below"``) it.
    :param scope: ``"token"`` (per token) or ``"sequence"`` (latched from the first token that meets it).
    :param latents: exact reader of the steered latents (needed for TopK SAEs; ``LatentReader.from_sae``).
    """
    from tl_reasoning.interventions.common import check_features, coefficients

    k = check_features(weights, features)
    if compare not in _COMPARES:
        raise ValueError(f"compare={compare!r} is not known; use 'above' or 'below'")
    if scope not in _SCOPES:
        raise ValueError(f"scope={scope!r} is not known; use 'token' (decide per token) or 'sequence' "
                         "(latch from the first token that meets the condition)")
    score = _score_function(weights, condition, latents, eps)
    vectors = (coefficients(strength, f_max, k).to(weights.directions.dtype) @ weights.directions).contiguous()
    per_row = vectors.ndim == 2
    limit = float(threshold)
    above = compare == "above"
    latch = scope == "sequence"
    state: dict[str, Any] = {"open": None}

    def steer_where(act: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        vec = vectors.to(device=act.device, dtype=act.dtype)
        if per_row:
            if vec.shape[0] != act.shape[0]:
                raise ValueError(f"per-row strengths have {vec.shape[0]} rows but the batch has {act.shape[0]}; "
                                 "pass one row of strengths per prompt")
            vec = vec[:, None, :]
        s = score(act)
        gate = s > limit if above else s < limit  # [batch, seq]
        if latch:
            start = int(positions[0]) if positions.numel() else 0
            before = state["open"]
            if start == 0 or before is None or before.shape[0] != act.shape[0]:
                before = torch.zeros(act.shape[0], dtype=torch.bool, device=act.device)
            gate = (gate.long().cumsum(dim=1) > 0) | before.to(act.device)[:, None]
            state["open"] = gate[:, -1].clone() if gate.shape[1] else before
        return torch.where(gate[..., None], act + vec, act)

    return steer_where
