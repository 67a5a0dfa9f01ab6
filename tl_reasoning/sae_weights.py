"""Plain-tensor copies of the SAE parameters an intervention needs.

Interventions may run inside nnsight traces on NDIF, where sae-lens objects cannot travel. This
holds cloned, contiguous tensors (never views, which would pickle the whole storage) for only the
features being used, plus the shared decoder bias.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["SAEWeights"]


@dataclass(frozen=True)
class SAEWeights:
    """Encoder columns, decoder rows and biases for ``features`` of one SAE."""

    features: tuple[int, ...]
    W_enc: torch.Tensor
    """``[d_in, k]`` encoder columns of the selected features."""
    b_enc: torch.Tensor
    """``[k]``"""
    W_dec: torch.Tensor
    """``[k, d_in]`` decoder rows of the selected features."""
    b_dec: torch.Tensor
    """``[d_in]``"""
    threshold: torch.Tensor | None = None
    """``[k]`` JumpReLU thresholds, if the SAE has them."""
    apply_b_dec_to_input: bool = False

    @classmethod
    def from_sae(cls, sae: Any, features: Sequence[int]) -> SAEWeights:
        """Copy the parameters of ``features`` out of a sae-lens SAE."""
        d_sae = int(sae.cfg.d_sae)
        feats = tuple(int(f) for f in features)
        bad = [f for f in feats if not 0 <= f < d_sae]
        if bad:
            raise ValueError(f"feature index {bad[0]} is out of range for an SAE with d_sae={d_sae}")
        idx = torch.tensor(feats, dtype=torch.long, device=sae.W_enc.device)
        threshold = getattr(sae, "threshold", None)
        with torch.no_grad():
            return cls(
                features=feats,
                W_enc=sae.W_enc.index_select(1, idx).detach().clone().contiguous(),
                b_enc=sae.b_enc.index_select(0, idx).detach().clone().contiguous(),
                W_dec=sae.W_dec.index_select(0, idx).detach().clone().contiguous(),
                b_dec=sae.b_dec.detach().clone().contiguous(),
                threshold=None if threshold is None else threshold.index_select(0, idx).detach().clone(),
                apply_b_dec_to_input=bool(getattr(sae.cfg, "apply_b_dec_to_input", False)),
            )

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> SAEWeights:
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device=device, dtype=dtype or t.dtype)

        return SAEWeights(self.features, move(self.W_enc), move(self.b_enc), move(self.W_dec),  # type: ignore[arg-type]
                          move(self.b_dec), move(self.threshold), self.apply_b_dec_to_input)  # type: ignore[arg-type]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-threshold-aware activations of the selected features, ``[..., k]`` (ReLU/JumpReLU)."""
        if self.apply_b_dec_to_input:
            x = x - self.b_dec
        pre = x @ self.W_enc + self.b_enc
        acts = torch.relu(pre)
        if self.threshold is not None:
            acts = acts * (pre > self.threshold)
        return acts
