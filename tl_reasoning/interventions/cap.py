"""Projection clamp along the unit feature direction (the official code's ``get_clamp_hook``).

``d̂ = d_i/‖d_i‖`` with ``d_i = decode(e_i) − decode(0)`` (the unit decoder row for the usual
SAEs); ``x′ = x − (x·d̂)d̂ + γ·f_max·d̂``: the component of the residual along ``d̂`` is replaced by
``γ·f_max``. With ``only_above=True`` it is a true cap: the component is
lowered to ``γ·f_max`` where it exceeds it and left alone elsewhere. Several features are applied
one after the other in the given order (as the official code's one hook per feature).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tl_reasoning.backends.base import EditFn
from tl_reasoning.interventions.common import check_features, coefficients, row_view
from tl_reasoning.sae_weights import SAEWeights

__all__ = ["cap", "unit_rows"]


def unit_rows(rows: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit L2 norm; a zero row is an error (it has no direction)."""
    norms = rows.norm(dim=-1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError("a feature direction d_i is zero, so it has no direction to cap or ablate along")
    return (rows / norms).contiguous()


def cap(
    weights: SAEWeights,
    features: Sequence[int],
    strength: float | Sequence[float] | torch.Tensor,
    f_max: float | Sequence[float] | torch.Tensor,
    *,
    only_above: bool = False,
) -> EditFn:
    """Edit setting (or, with ``only_above``, capping) the projection on each ``d̂_i`` to ``strength · f_max``."""
    k = check_features(weights, features)
    target = coefficients(strength, f_max, k)  # [k] or [batch, k]
    directions = unit_rows(weights.directions)  # [k, d]

    def edit(act: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        dirs = directions.to(device=act.device, dtype=act.dtype)
        goal = row_view(target, act)  # [batch or 1, 1, k]
        out = act
        for j in range(dirs.shape[0]):
            d = dirs[j]
            proj = (out @ d)[..., None]  # [batch, seq, 1]
            want = goal[..., j:j + 1]
            if only_above:
                want = torch.minimum(proj, want)
            out = out + (want - proj) * d
        return out

    return edit
