"""Multiplicative steering: scale a feature where it is present instead of adding a constant.

``how="latent"`` (default): the SAE latent is multiplied by ``1 + γ`` keeping the SAE error term,
``f_i ← (1 + γ)·f_i(x)``, i.e. the rank-1 update ``x′ = x + γ·Σ_i f_i(x)·d_i`` with
``d_i = decode(e_i) − decode(0)``. Tokens where the feature is silent are untouched, so the edit is conditional by construction; ``γ = −1`` is latent
ablation, ``γ = 0`` the identity. It is the multiplicative counterpart of additive steering that
Stoehr et al. study in "Activation Scaling for Steering and Interpreting Language Models" (Findings
of EMNLP 2024, arXiv:2410.04962) — there on whole activation vectors, here on SAE latents, with
the SAE error term kept as tl-reasoning's built-in ``clamp`` keeps it.

``how="projection"``: the component of the residual along each unit feature direction
``d̂ = d_i/‖d_i‖`` is scaled, ``x′ = x + γ·(x·d̂)·d̂`` (Neuronpedia's orthogonal-decomposition steering ``(I − P)x + c·Px`` with
``c = 1 + γ``); several features are applied one after the other.

``strength`` γ is one value, one per feature ``[k]`` or one row per batch row ``[batch, k]``;
``f_max`` is not used. Latents are exact for ReLU/JumpReLU SAEs; for TopK SAEs pass
``latents=LatentReader.from_sae(sae, features)``. The edit is plain torch (remote-safe for NDIF).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["scale"]


def scale(
    weights: Any,
    features: Sequence[int],
    strength: Any,
    f_max: Any = None,
    *,
    how: str = "latent",
    latents: Any = None,
) -> Any:
    """Edit multiplying each feature (latent, or projection with ``how="projection"``) by ``1 + strength``."""
    from tl_reasoning.interventions.cap import unit_rows
    from tl_reasoning.interventions.common import check_features, per_row
    from tl_reasoning.interventions.latents import LatentReader

    k = check_features(weights, features)
    gamma = per_row(strength, k, "strength")  # [k] or [batch, k]
    rows = gamma.ndim == 2

    def factors(act: torch.Tensor) -> torch.Tensor:
        g = gamma.to(device=act.device, dtype=act.dtype)
        if rows:
            if g.shape[0] != act.shape[0]:
                raise ValueError(f"per-row strengths have {g.shape[0]} rows but the batch has {act.shape[0]}; "
                                 "pass one row of strengths per prompt")
            return g[:, None, :]
        return g[None, None, :]

    if how == "latent":
        reader = latents if latents is not None else LatentReader.from_weights(weights)
        if reader.features != weights.features:
            raise ValueError("latents were built for other features than the SAE weights; build them with "
                             "LatentReader.from_sae(sae, features)")
        encode = reader.function()
        decoder = reader.decoder.contiguous()

        def scale_latents(act: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
            f = encode(act)  # [batch, seq, k]
            return act + (factors(act) * f) @ decoder.to(device=act.device, dtype=act.dtype)

        return scale_latents
    if how == "projection":
        directions = unit_rows(weights.directions)  # [k, d]

        def scale_projections(act: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
            dirs = directions.to(device=act.device, dtype=act.dtype)
            g = factors(act)
            out = act
            for j in range(dirs.shape[0]):
                proj = (out @ dirs[j])[..., None]  # [batch, seq, 1]
                out = out + g[..., j:j + 1] * proj * dirs[j]
            return out

        return scale_projections
    raise ValueError(f"scale how={how!r} is not known; use 'latent' (keep the SAE error term) or 'projection'")


scale.uses_f_max = False  # type: ignore[attr-defined]  # feature_steering needs no f_max
