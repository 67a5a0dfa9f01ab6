"""Exact activations ``f_i(x)`` of selected SAE features, as plain tensors and a plain-torch function.

Clamping or ablating a feature while keeping the SAE error term is the rank-1 update
``x′ = x + (target − f_i(x))·d_i`` with ``d_i = decode(e_i) − decode(0)`` (:mod:`tl_reasoning.units`;
``decode`` is affine, so ``decode(f′) + (x − decode(f)) = x + Σ_i (f′_i − f_i)·d_i``). ``f_i(x)`` is
exactly ``sae.encode(x)[..., i]``:

* ReLU ("standard") and JumpReLU SAEs: ``f_i`` depends on feature ``i``'s encoder column alone,
  so only the selected columns are kept (no full encode per token).
* TopK SAEs: whether ``f_i`` survives the top-k depends on every other feature, so the full
  encoder is kept and the top-k is taken over all features (exact, at the cost of a full encode).
  With ``rescale_acts_by_decoder_norm`` the pre-activations are multiplied by ``‖W_dec[i]‖`` (as
  ``encode`` does) and the latent acts through ``d_i = W_dec[i]/‖W_dec[i]‖``.
* Other architectures (gated, matching pursuit, transcoders, ...) and input normalisations that
  are not affine (``layer_norm``, ``constant_norm_rescale``) raise ``ValueError``; ``add`` and ``cap``
  need no encoder and work for every architecture whose ``d_i`` is fixed (not per-token normalised).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from tl_reasoning.sae_weights import SAEWeights

__all__ = ["LatentReader"]

_ELEMENTWISE = ("standard", "relu", "jumprelu")
_AFFINE_NORMALISATIONS = ("none", None, "expected_average_only_in")


@dataclass(frozen=True)
class LatentReader:
    """Reads the exact activations of ``features`` from residual vectors (see module docstring)."""

    features: tuple[int, ...]
    kind: str
    """``relu``, ``jumprelu`` or ``topk``."""
    W_enc: torch.Tensor
    """``[d_in, k]`` selected columns (``relu``/``jumprelu``) or ``[d_in, d_sae]`` (``topk``)."""
    b_enc: torch.Tensor
    b_dec: torch.Tensor
    decoder: torch.Tensor
    """``[k, d_in]`` ``d_i``: what one unit of each selected latent adds to the reconstruction."""
    threshold: torch.Tensor | None = None
    apply_b_dec_to_input: bool = False
    top_k: int = 0
    index: torch.Tensor | None = None
    """``[k]`` positions of the selected features among all features (``topk``)."""
    pre_scale: torch.Tensor | None = None
    """``[d_sae]`` decoder-row norms multiplied into TopK pre-activations (``rescale_acts_by_decoder_norm``)."""

    @classmethod
    def from_weights(cls, weights: SAEWeights) -> LatentReader:
        """Reader for a ReLU/JumpReLU SAE from its selected weights (not valid for TopK SAEs)."""
        return cls(weights.features, "jumprelu" if weights.threshold is not None else "relu", weights.W_enc,
                   weights.b_enc, weights.b_dec, weights.directions, weights.threshold, weights.apply_b_dec_to_input)

    @classmethod
    def from_sae(cls, sae: Any, features: Sequence[int]) -> LatentReader:
        """Reader for ``features`` of a sae-lens SAE; raises ``ValueError`` for unsupported SAEs."""
        arch = _architecture(sae)
        norm = getattr(sae.cfg, "normalize_activations", "none")
        if norm not in _AFFINE_NORMALISATIONS:
            raise ValueError(
                f"latent clamping/ablation needs an affine SAE, but this SAE normalises its inputs with "
                f"{norm!r}, so what a unit of a latent adds depends on the token; use an SAE without run-time "
                "normalisation (or fold it into the weights)"
            )
        if getattr(sae.cfg, "reshape_activations", "none") not in ("none", None):
            raise ValueError("latent clamping/ablation does not support hook_z SAEs; use mode 'add' or 'cap'")
        if arch in _ELEMENTWISE:
            return cls.from_weights(SAEWeights.from_sae(sae, features))
        if arch == "topk":
            weights = SAEWeights.from_sae(sae, features)  # checks the indices
            idx = torch.tensor(weights.features, dtype=torch.long, device=sae.W_dec.device)
            with torch.no_grad():
                pre_scale = None
                if bool(getattr(sae.cfg, "rescale_acts_by_decoder_norm", False)):
                    pre_scale = sae.W_dec.norm(dim=-1).detach().clone()
                return cls(weights.features, "topk", sae.W_enc.detach().clone(), sae.b_enc.detach().clone(),
                           weights.b_dec, weights.directions, None, weights.apply_b_dec_to_input, int(sae.cfg.k),
                           idx.clone(), pre_scale)
        raise ValueError(
            f"latent clamping/ablation supports ReLU (standard), JumpReLU and TopK SAEs, not {arch!r}; "
            "use mode 'add' or 'cap' (they steer along d_i and need no encoder) with this SAE"
        )

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> LatentReader:
        def move(t: torch.Tensor | None, floating: bool = True) -> Any:
            if t is None:
                return None
            return t.to(device=device, dtype=(dtype or t.dtype) if floating else t.dtype)

        return LatentReader(self.features, self.kind, move(self.W_enc), move(self.b_enc), move(self.b_dec),
                            move(self.decoder), move(self.threshold), self.apply_b_dec_to_input, self.top_k,
                            move(self.index, floating=False), move(self.pre_scale))

    def function(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """A plain-torch ``encode(x [..., d_in]) -> f [..., k]`` closing over tensors only."""
        W_enc, b_enc, b_dec, threshold = self.W_enc, self.b_enc, self.b_dec, self.threshold
        subtract_b_dec, kind, top_k, index, pre_scale = (self.apply_b_dec_to_input, self.kind, self.top_k,
                                                          self.index, self.pre_scale)

        def encode(x: torch.Tensor) -> torch.Tensor:
            w = W_enc.to(device=x.device, dtype=x.dtype)
            if subtract_b_dec:
                x = x - b_dec.to(device=x.device, dtype=x.dtype)
            pre = x @ w + b_enc.to(device=x.device, dtype=x.dtype)
            if kind == "topk":
                if pre_scale is not None:
                    pre = pre * pre_scale.to(device=x.device, dtype=x.dtype)
                values, chosen = torch.topk(pre, k=top_k, dim=-1, sorted=False)
                dense = torch.zeros_like(pre).scatter_(-1, chosen, values.relu())
                return dense.index_select(-1, index.to(x.device))  # type: ignore[union-attr]
            acts = torch.relu(pre)
            if threshold is not None:
                acts = acts * (pre > threshold.to(device=x.device, dtype=x.dtype))
            return acts

        return encode


def _architecture(sae: Any) -> str:
    cfg = sae.cfg
    arch = cfg.architecture() if callable(getattr(cfg, "architecture", None)) else getattr(cfg, "architecture", "")
    return str(arch or "standard").lower()
