"""Latent clamp keeping the SAE error term (the official code's ``get_intervention_hook``).

Encode, set latent ``i`` to ``γ·f_max``, decode and add back the error ``x − x̂``. Because decoding
is affine this is the rank-1 update ``x′ = x + (γ·f_max − f_i(x))·d_i`` (summed over the
features; ``f_i(x) = sae.encode(x)[..., i]``, ``d_i = decode(e_i) − decode(0)``), computed from the
selected encoder columns only — no full encode or decode per token for ReLU/JumpReLU SAEs. TopK
SAEs need the full encoder: pass ``latents=LatentReader.from_sae(sae, features)``
(``tl_reasoning.steer`` does this for you).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tl_reasoning.backends.base import EditFn
from tl_reasoning.interventions.common import check_features, coefficients, row_view
from tl_reasoning.interventions.latents import LatentReader
from tl_reasoning.sae_weights import SAEWeights

__all__ = ["clamp"]


def clamp(
    weights: SAEWeights,
    features: Sequence[int],
    strength: float | Sequence[float] | torch.Tensor,
    f_max: float | Sequence[float] | torch.Tensor,
    *,
    latents: LatentReader | None = None,
) -> EditFn:
    """Edit setting each feature's activation to ``strength · f_max`` at every edited position.

    :param latents: how to read ``f_i(x)`` exactly; default: from ``weights`` (ReLU/JumpReLU SAEs only).
    """
    k = check_features(weights, features)
    reader = latents if latents is not None else LatentReader.from_weights(weights)
    if reader.features != weights.features:
        raise ValueError("latents were built for other features than the SAE weights")
    target = coefficients(strength, f_max, k)  # [k] or [batch, k]
    encode = reader.function()
    decoder = reader.decoder.contiguous()

    def edit(act: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        f = encode(act)  # [batch, seq, k]
        delta = row_view(target, act) - f
        return act + delta @ decoder.to(device=act.device, dtype=act.dtype)

    return edit
