"""Angular steering: rotate activations toward an SAE feature's direction, keeping their norm.

After Vu & Nguyen, "Angular Steering: Behavior Control via Rotation in Activation Space"
(arXiv:2510.26243, 2025). Instead of adding a vector (which changes the activation's norm and can push
it off-distribution), the activation is rotated inside a 2-D plane that contains the feature
direction ``b1``; the component outside the plane is untouched, so the norm is preserved exactly
(up to float rounding).

The feature direction is ``b1 = normalise(Σ_i d_i / ‖d_i‖)`` with ``d_i = decode(e_i) − decode(0)``
(one feature: its unit direction ``d̂_i``; the unit decoder row for the usual SAEs). The plane is

* ``plane=None`` (default): per token, the plane spanned by ``b1`` and the activation itself, so
  ``h`` lies entirely in it and the rotation changes only the angle ``φ`` between ``h`` and ``b1``;
* ``plane=v`` (a ``[d_model]`` vector): the paper's fixed plane spanned by ``b1`` and ``v``
  (orthonormalised); ``φ`` is the angle of the in-plane component measured from ``b1`` toward ``v``.

``rotation="by"`` (default) turns by ``θ`` toward ``b1`` (``φ′ = φ − θ``; negative θ turns away),
so ``θ = 0`` leaves every activation bit-identical; ``rotation="target"`` sets ``φ′ = θ`` for
every token (the paper's Eq. 2; ``θ = 0`` aligns the in-plane component with the feature,
``θ = 90°`` removes it keeping the norm).

``θ`` is the steering **strength, in degrees**: one value (also as ``[k]`` equal values), or one per
batch row as ``[batch, 1]`` (or ``[batch, k]`` with equal columns) for a sweep in one batch. ``f_max`` is not
used. The edit is plain torch on tensors it closes over (remote-safe for NDIF).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["angles_from_strength", "angular", "feature_direction"]

_ROTATIONS = ("by", "target")


def feature_direction(directions: torch.Tensor) -> torch.Tensor:
    """Unit vector along the sum of the unit feature directions ``[k, d] -> [d]`` (float64)."""
    rows = directions.detach().to(torch.float64)
    norms = rows.norm(dim=-1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError("a feature direction d_i is zero, so the feature has no direction to rotate toward")
    total = (rows / norms).sum(dim=0)
    if float(total.norm()) < 1e-8:
        raise ValueError("the features' unit directions cancel out; steer them separately")
    return total / total.norm()


def angles_from_strength(strength: float | Sequence[Any] | torch.Tensor, k: int) -> torch.Tensor:
    """Strength in degrees → radians: a 0-d tensor (one angle) or ``[batch]`` (from ``[batch, 1]`` / ``[batch, k]``)."""
    tensor = torch.as_tensor(strength, dtype=torch.float64)
    if tensor.ndim == 1 and tensor.numel() in (1, k):
        if not bool((tensor == tensor[0]).all()):
            raise ValueError(f"angular steering rotates toward one combined direction, so it takes one angle, not one "
                             f"per feature ({tensor.tolist()}); give one strength (degrees) or one per batch row "
                             "([batch, 1])")
        tensor = tensor[0]
    elif tensor.ndim == 2 and tensor.shape[1] in (1, k):
        if not bool((tensor == tensor[:, :1]).all()):
            raise ValueError("per-row angles must be equal across features (one angle per batch row)")
        tensor = tensor[:, 0]
    elif tensor.ndim != 0:
        raise ValueError("angular strength must be one angle in degrees, or [batch, 1] angles (one per prompt); "
                         f"got shape {tuple(tensor.shape)}")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError("angular strength (degrees) must be finite")
    return tensor * (math.pi / 180.0)


def angular(
    weights: Any,
    features: Sequence[int],
    strength: float | Sequence[Any] | torch.Tensor,
    f_max: Any = None,
    *,
    rotation: str = "by",
    plane: torch.Tensor | Sequence[float] | None = None,
    eps: float = 1e-6,
) -> Any:
    """Edit rotating each activation by (or to) ``strength`` degrees toward the features' direction.

    :param rotation: ``"by"`` (turn by θ toward the feature; θ = 0 is the identity) or ``"target"``
        (set the in-plane angle to θ, the paper's formulation).
    :param plane: ``None`` for the per-token plane span(b1, h), or a ``[d_model]`` vector giving the
        fixed plane span(b1, plane).
    :param eps: tokens whose component orthogonal to the plane's first axis is below ``eps·‖h‖``
        have no defined rotation plane (adaptive mode) and are left unchanged.
    """
    from tl_reasoning.interventions.common import check_features

    k = check_features(weights, features)
    if rotation not in _ROTATIONS:
        raise ValueError(f"rotation={rotation!r} is not known; use 'by' (turn by the angle toward the feature) "
                         "or 'target' (set the angle)")
    b1_64 = feature_direction(weights.directions)
    theta = angles_from_strength(strength, k)
    per_row = theta.ndim == 1
    by = rotation == "by"
    if by and not bool(theta.any()):
        def identity(act: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
            return act

        return identity
    b1_basis = b1_64.to(torch.float32).contiguous()
    b2_basis = None
    if plane is not None:
        v = torch.as_tensor(plane, dtype=torch.float64).detach().flatten().cpu()
        if v.shape != b1_64.shape:
            raise ValueError(f"plane must be a [{b1_64.numel()}] vector (d_model), got shape {tuple(v.shape)}")
        v = v - (v @ b1_64) * b1_64
        if float(v.norm()) < 1e-8:
            raise ValueError("plane is parallel to the feature direction, so it does not span a plane; "
                             "pass another vector (e.g. the mean activation or a principal component)")
        b2_basis = (v / v.norm()).to(torch.float32).contiguous()
    angle = theta.to(torch.float32).contiguous()

    def rotate(act: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        b1 = b1_basis.to(device=act.device, dtype=act.dtype)
        th = angle.to(device=act.device, dtype=act.dtype)
        if per_row:
            if th.shape[0] != act.shape[0]:
                raise ValueError(f"per-row angles have {th.shape[0]} rows but the batch has {act.shape[0]}; "
                                 "pass one angle per prompt")
            th = th[:, None]  # [batch, 1] against [batch, seq]
        c1 = act @ b1  # [batch, seq]
        if b2_basis is None:
            perp = act - c1[..., None] * b1
            r_perp = perp.norm(dim=-1)
            norm = act.norm(dim=-1)
            phi = torch.atan2(r_perp, c1)
            new_phi = phi - th if by else th.expand_as(phi)
            u = perp / r_perp.clamp_min(torch.finfo(act.dtype).tiny)[..., None]
            new = act + (norm * torch.cos(new_phi) - c1)[..., None] * b1 \
                + (norm * torch.sin(new_phi) - r_perp)[..., None] * u
            keep = r_perp <= eps * norm  # no rotation plane: h (anti)parallel to b1, or zero
        else:
            b2 = b2_basis.to(device=act.device, dtype=act.dtype)
            c2 = act @ b2
            r = torch.sqrt(c1 * c1 + c2 * c2)
            phi = torch.atan2(c2, c1)
            new_phi = phi - th if by else th.expand_as(phi)
            new = act + (r * torch.cos(new_phi) - c1)[..., None] * b1 + (r * torch.sin(new_phi) - c2)[..., None] * b2
            keep = r <= eps * act.norm(dim=-1)
        if by and per_row:
            keep = keep | (th == 0)
        return torch.where(keep[..., None], act, new)

    return rotate


angular.uses_f_max = False  # type: ignore[attr-defined]  # feature_steering needs no f_max
