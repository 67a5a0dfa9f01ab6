"""Plain-tensor copies of the SAE parameters an intervention needs.

Interventions may run inside nnsight traces on NDIF, where sae-lens objects cannot travel. This
holds cloned, contiguous tensors (never views, which would pickle the whole storage) for only the
features being used, plus the shared decoder bias.

Steering moves along ``directions`` — ``d_i = decode(e_i) − decode(0)`` from
:func:`tl_reasoning.units.unit_directions`, what one unit of latent ``i`` (in ``sae.encode`` units)
adds to the SAE's reconstruction — never along the raw ``W_dec`` rows, which differ from ``d_i``
for rescaled TopK SAEs and SAEs with a folded input normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["SAEWeights"]


@dataclass(frozen=True)
class SAEWeights:
    """Encoder columns, decoder rows, feature directions ``d_i`` and biases for ``features`` of one SAE."""

    features: tuple[int, ...]
    W_enc: torch.Tensor
    """``[d_in, k]`` encoder columns of the selected features."""
    b_enc: torch.Tensor
    """``[k]``"""
    W_dec: torch.Tensor
    """``[k, d_in]`` raw decoder rows as stored (decoder geometry, e.g. diffing); steer along ``directions``."""
    b_dec: torch.Tensor
    """``[d_in]``"""
    threshold: torch.Tensor | None = None
    """``[k]`` JumpReLU thresholds, if the SAE has them."""
    apply_b_dec_to_input: bool = False
    directions: torch.Tensor = None  # type: ignore[assignment]
    """``[k, d_in]`` ``d_i = decode(e_i) − decode(0)``; when built by hand and left out: ``W_dec`` (a plain SAE)."""

    def __post_init__(self) -> None:
        if self.directions is None:
            object.__setattr__(self, "directions", self.W_dec)
        if tuple(self.directions.shape) != tuple(self.W_dec.shape):
            raise ValueError(f"directions have shape {tuple(self.directions.shape)} but the decoder rows "
                             f"{tuple(self.W_dec.shape)}; give one direction per feature")

    @classmethod
    def from_sae(cls, sae: Any, features: Sequence[int]) -> SAEWeights:
        """Copy the parameters of ``features`` out of a sae-lens SAE, with ``d_i`` from :mod:`tl_reasoning.units`.

        Raises ``ValueError`` for SAEs that normalise each input (``layer_norm``,
        ``constant_norm_rescale``): what a unit of their latents adds depends on the token.
        """
        from tl_reasoning.units import unit_directions

        d_sae = int(sae.cfg.d_sae)
        feats = tuple(int(f) for f in features)
        bad = [f for f in feats if not 0 <= f < d_sae]
        if bad:
            raise ValueError(f"feature index {bad[0]} is out of range for an SAE with d_sae={d_sae}")
        idx = torch.tensor(feats, dtype=torch.long, device=sae.W_enc.device)
        threshold = getattr(sae, "threshold", None)
        dirs = unit_directions(sae, idx)
        with torch.no_grad():
            return cls(
                features=feats,
                W_enc=sae.W_enc.index_select(1, idx).detach().clone().contiguous(),
                b_enc=sae.b_enc.index_select(0, idx).detach().clone().contiguous(),
                W_dec=sae.W_dec.index_select(0, idx).detach().clone().contiguous(),
                b_dec=sae.b_dec.detach().clone().contiguous(),
                threshold=None if threshold is None else threshold.index_select(0, idx).detach().clone(),
                apply_b_dec_to_input=bool(getattr(sae.cfg, "apply_b_dec_to_input", False)),
                directions=dirs.to(sae.W_dec.dtype).detach().clone().contiguous(),
            )

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> SAEWeights:
        """A copy on ``device`` (floating tensors cast to ``dtype`` when given)."""
        def move(t: torch.Tensor | None) -> Any:
            return None if t is None else t.to(device=device, dtype=dtype or t.dtype)

        return SAEWeights(self.features, move(self.W_enc), move(self.b_enc), move(self.W_dec), move(self.b_dec),
                          move(self.threshold), self.apply_b_dec_to_input, move(self.directions))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-threshold-aware activations of the selected features, ``[..., k]`` (ReLU/JumpReLU)."""
        if self.apply_b_dec_to_input:
            x = x - self.b_dec
        pre = x @ self.W_enc + self.b_enc
        acts = torch.relu(pre)
        if self.threshold is not None:
            acts = acts * (pre > self.threshold)
        return acts
