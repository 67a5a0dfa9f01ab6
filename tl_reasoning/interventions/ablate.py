"""Ablation: switch features off, either as SAE latents (keeping the error term) or as directions.

``how="latent"`` (default): ``x′ = x − Σ_i f_i(x)·d_i`` — encode, zero the latents, decode, add
the error ``x − x̂`` (exact rank-1 form, see :mod:`tl_reasoning.interventions.latents`).
``how="direction"``: remove the residual's component in the span of the feature directions ``d_i``,
``x′ = x − Q Qᵀ x`` with ``Q`` an orthonormal basis of them (for one feature ``x − (x·d̂_i)d̂_i``).
``d_i = decode(e_i) − decode(0)`` (:mod:`tl_reasoning.units`).
Strength and ``f_max`` are not used.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tl_reasoning.backends.base import EditFn
from tl_reasoning.interventions.common import check_features
from tl_reasoning.interventions.latents import LatentReader
from tl_reasoning.sae_weights import SAEWeights

__all__ = ["ablate"]


def ablate(
    weights: SAEWeights,
    features: Sequence[int],
    strength: float | Sequence[float] | torch.Tensor | None = None,
    f_max: float | Sequence[float] | torch.Tensor | None = None,
    *,
    how: str = "latent",
    latents: LatentReader | None = None,
) -> EditFn:
    """Edit ablating ``features`` (``how="latent"`` or ``"direction"``)."""
    check_features(weights, features)
    if how == "latent":
        reader = latents if latents is not None else LatentReader.from_weights(weights)
        encode = reader.function()
        decoder = reader.decoder.contiguous()

        def ablate_latents(act: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
            return act - encode(act) @ decoder.to(device=act.device, dtype=act.dtype)

        return ablate_latents
    if how == "direction":
        rows = weights.directions.to(torch.float64)
        if bool((rows.norm(dim=-1) == 0).any()):
            raise ValueError("a feature direction d_i is zero, so it has no direction to ablate")
        basis = torch.linalg.qr(rows.T).Q.T.to(weights.directions.dtype).contiguous()  # [k, d] orthonormal rows

        def ablate_span(act: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
            q = basis.to(device=act.device, dtype=act.dtype)
            return act - (act @ q.T) @ q

        return ablate_span
    raise ValueError(f"ablate how={how!r} is not known; use 'latent' (keep the SAE error term) or 'direction'")
