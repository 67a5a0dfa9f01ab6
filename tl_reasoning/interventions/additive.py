"""Additive steering, paper Eq. 7: x ← x + γ · f_max · d_i, summed over the chosen features.

``d_i = decode(e_i) − decode(0)`` (:mod:`tl_reasoning.units`) and ``f_max`` is in ``sae.encode`` units,
so ``f_max · d_i`` is what the SAE's own reconstruction gains when latent ``i`` fires at ``f_max``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tl_reasoning.backends.base import EditFn
from tl_reasoning.interventions.common import as_vector, check_features, coefficients
from tl_reasoning.sae_weights import SAEWeights

__all__ = ["additive", "as_vector"]


def additive(
    weights: SAEWeights,
    features: Sequence[int],
    strength: float | Sequence[float] | torch.Tensor,
    f_max: float | Sequence[float] | torch.Tensor,
) -> EditFn:
    """Edit adding ``strength · f_max · d_i`` for every feature at every position.

    ``strength`` is one value, one per feature ``[k]`` or one row per batch row ``[batch, k]`` (a
    sweep in one batch); ``f_max`` one value or one per feature. The steering vectors are computed
    once; the edit is one broadcast add (remote-safe plain torch). ``strength = 0`` returns the
    activations bit-identical.
    """
    check_features(weights, features)
    coeff = coefficients(strength, f_max, len(weights.features)).to(weights.directions.dtype)
    vectors = (coeff @ weights.directions).contiguous()  # [d] or [batch, d]
    per_row = vectors.ndim == 2

    def edit(act: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        vec = vectors.to(device=act.device, dtype=act.dtype)
        if per_row:
            if vec.shape[0] != act.shape[0]:
                raise ValueError(f"per-row strengths have {vec.shape[0]} rows but the batch has "
                                 f"{act.shape[0]}; pass one row of strengths per prompt")
            return act + vec[:, None, :]
        return act + vec

    return edit
