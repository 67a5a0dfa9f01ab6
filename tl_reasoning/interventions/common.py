"""Shared pieces of the intervention factories: strengths per feature or per batch row, norm keeping.

Strengths and targets are either one value per feature ``[k]`` (the same for every row) or one row
of values per batch row ``[batch, k]`` — a strength sweep in a single generate call. Everything
here is plain torch, so edit functions built from it can run inside remote nnsight traces.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tl_reasoning.backends.base import EditFn
from tl_reasoning.sae_weights import SAEWeights

__all__ = ["as_vector", "check_features", "coefficients", "per_row", "preserve_norm", "row_view"]


def as_vector(values: float | Sequence[float] | torch.Tensor, k: int, what: str) -> torch.Tensor:
    """Broadcast a scalar or length-``k`` sequence to a float tensor ``[k]``."""
    tensor = torch.as_tensor(values, dtype=torch.float32)
    if tensor.ndim == 0:
        tensor = tensor.repeat(k)
    if tensor.shape != (k,):
        raise ValueError(f"{what} needs one value or one per feature ({k}), got shape {tuple(tensor.shape)}")
    return tensor


def per_row(values: float | Sequence[float] | Sequence[Sequence[float]] | torch.Tensor, k: int,
            what: str) -> torch.Tensor:
    """A scalar, ``[k]`` or ``[batch, k]`` value as a float tensor ``[k]`` or ``[batch, k]``."""
    tensor = torch.as_tensor(values, dtype=torch.float32)
    if tensor.ndim == 2:
        if tensor.shape[1] != k:
            raise ValueError(f"per-row {what} needs shape [batch, {k}] (one column per feature), "
                             f"got {tuple(tensor.shape)}")
        return tensor.clone()
    return as_vector(tensor, k, what)


def coefficients(strength: float | Sequence[float] | torch.Tensor,
                 f_max: float | Sequence[float] | torch.Tensor | None, k: int) -> torch.Tensor:
    """``strength · f_max`` as ``[k]`` or ``[batch, k]`` (``f_max`` is per feature, never per row)."""
    if f_max is None:
        raise ValueError("this intervention needs f_max (one maximum activation per feature)")
    return per_row(strength, k, "strength") * as_vector(f_max, k, "f_max")


def check_features(weights: SAEWeights, features: Sequence[int]) -> int:
    """Check that ``features`` are the ones ``weights`` were taken for; return their number."""
    if [int(f) for f in features] != list(weights.features):
        raise ValueError(f"features {list(features)} do not match the features the SAE weights were taken "
                         f"for ({list(weights.features)}); build them with SAEWeights.from_sae(sae, features)")
    return len(weights.features)


def row_view(values: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
    """``[k]`` → ``[1, 1, k]``; ``[batch, k]`` → ``[batch, 1, k]`` after checking the batch size."""
    values = values.to(device=act.device, dtype=act.dtype)
    if values.ndim == 1:
        return values[None, None, :]
    if values.shape[0] != act.shape[0]:
        raise ValueError(f"per-row strengths have {values.shape[0]} rows but the batch has {act.shape[0]}; "
                         "pass one row of strengths per prompt")
    return values[:, None, :]


def preserve_norm(edit: EditFn, eps: float = 1e-6) -> EditFn:
    """Wrap ``edit`` so each token vector keeps its L2 norm: ``x′ ← x′·‖x‖/‖x′‖`` (SAE-free steering)."""

    def edit_keeping_norm(act: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        new = edit(act, positions)
        scale = act.norm(dim=-1, keepdim=True) / new.norm(dim=-1, keepdim=True).clamp_min(eps)
        return new * scale

    return edit_keeping_norm
