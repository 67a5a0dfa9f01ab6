"""Additive steering, paper Eq. 7: x ← x + γ · f_max · W_dec[i], summed over the chosen features."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tl_reasoning.backends.base import EditFn
from tl_reasoning.sae_weights import SAEWeights

__all__ = ["additive", "as_vector"]


def as_vector(values: float | Sequence[float] | torch.Tensor, k: int, what: str) -> torch.Tensor:
    """Broadcast a scalar or length-``k`` sequence to a float tensor ``[k]``."""
    tensor = torch.as_tensor(values, dtype=torch.float32)
    if tensor.ndim == 0:
        tensor = tensor.repeat(k)
    if tensor.shape != (k,):
        raise ValueError(f"{what} needs one value or one per feature ({k}), got shape {tuple(tensor.shape)}")
    return tensor


def additive(
    weights: SAEWeights,
    features: Sequence[int],
    strength: float | Sequence[float] | torch.Tensor,
    f_max: float | Sequence[float] | torch.Tensor,
) -> EditFn:
    """Edit adding ``strength · f_max · W_dec[i]`` for every feature at every position.

    The steering vector is computed once; the edit is one broadcast add (remote-safe plain torch).
    """
    k = len(weights.features)
    if list(features) != list(weights.features):
        raise ValueError("features must match the features the SAE weights were taken for")
    coeff = as_vector(strength, k, "strength") * as_vector(f_max, k, "f_max")
    vector = (coeff.to(weights.W_dec.dtype)[:, None] * weights.W_dec).sum(dim=0).contiguous()

    def edit(act: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return act + vector.to(device=act.device, dtype=act.dtype)

    return edit
