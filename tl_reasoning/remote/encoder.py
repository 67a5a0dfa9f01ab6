"""The SAE encoder as plain tensors and a pure-torch ``encode``, so it can run inside a remote trace.

sae-lens objects cannot travel to NDIF (they pickle by reference to a package the server does not
whitelist), so server-side scoring ships an :class:`EncoderWeights`: cloned, contiguous tensors
(never views: a view pickles its whole storage) and the few numbers that select the activation
(ReLU, JumpReLU threshold or TopK ``k``). :func:`encode_dense` reproduces ``sae.encode`` for the
standard, JumpReLU and TopK architectures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["EncoderWeights", "encode_dense"]


def _plain(t: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    t = t.detach()
    return (t.to(dtype) if dtype is not None else t).clone().contiguous()


@dataclass(frozen=True)
class EncoderWeights:
    """``W_enc [d_in, F]``, ``b_enc [F]``, ``b_dec [d_in]`` and the activation of one SAE."""

    W_enc: torch.Tensor
    b_enc: torch.Tensor
    b_dec: torch.Tensor
    apply_b_dec_to_input: bool
    threshold: torch.Tensor | None = None
    """``[F]`` JumpReLU thresholds."""
    k: int | None = None
    """TopK: number of active features per token."""
    scale: torch.Tensor | None = None
    """``[F]`` ‖d_i‖ multiplied into the codes (the scoring's ``decoder_norm``, computed locally by
    :func:`~tl_reasoning.units.unit_norms` and shipped as a plain tensor)."""
    pre_scale: torch.Tensor | None = None
    """``[F]`` ‖W_dec,i‖ multiplied into the pre-activations (sae-lens ``rescale_acts_by_decoder_norm``:
    part of that SAE's ``encode``, not a fold)."""

    @classmethod
    def from_sae(cls, sae: Any, *, dtype: torch.dtype | None = None, scale: torch.Tensor | None = None
                 ) -> EncoderWeights:
        """Copy the encoder of a sae-lens SAE (standard/ReLU, JumpReLU or TopK) into plain tensors."""
        cfg = sae.cfg
        arch = str(cfg.architecture()).lower()
        if str(getattr(cfg, "normalize_activations", "none") or "none") not in ("none", ""):
            raise ValueError("remote scoring cannot ship an SAE with activation normalisation; score with "
                             "remote_mode='residuals' (encodes locally with the SAE itself)")
        pre_scale = (sae.W_dec.detach().norm(dim=-1) if getattr(cfg, "rescale_acts_by_decoder_norm", False)
                     else None)
        threshold = getattr(sae, "threshold", None) if "jumprelu" in arch else None
        k = int(cfg.k) if "topk" in arch else None
        if arch not in ("standard", "jumprelu", "topk", "gated") or arch == "gated":
            raise ValueError(f"remote scoring cannot ship a {arch!r} SAE encoder; use remote_mode='residuals'")
        return cls(_plain(sae.W_enc, dtype), _plain(sae.b_enc, dtype), _plain(sae.b_dec, dtype),
                   bool(getattr(cfg, "apply_b_dec_to_input", False)),
                   None if threshold is None else _plain(threshold, dtype), k,
                   None if scale is None else _plain(scale, torch.float32),
                   None if pre_scale is None else _plain(pre_scale, dtype))

    @property
    def nbytes(self) -> int:
        """Bytes this encoder adds to a request."""
        tensors = [self.W_enc, self.b_enc, self.b_dec, self.threshold, self.scale, self.pre_scale]
        return sum(t.numel() * t.element_size() for t in tensors if t is not None)


def encode_dense(enc: EncoderWeights, x: torch.Tensor) -> torch.Tensor:
    """Dense float32 codes ``[N, F]`` of ``x`` ``[N, d_in]`` (as ``sae.encode``, times ``enc.scale``)."""
    W = enc.W_enc.to(x.device)
    x = x.to(W.dtype)
    if enc.apply_b_dec_to_input:
        x = x - enc.b_dec.to(x.device)
    pre = x @ W + enc.b_enc.to(x.device)
    if enc.pre_scale is not None:
        pre = pre * enc.pre_scale.to(x.device)
    if enc.k is not None:
        values, idx = torch.topk(pre, k=enc.k, dim=-1, sorted=False)
        acts = torch.zeros_like(pre).scatter_(-1, idx, values.relu())
    else:
        acts = torch.relu(pre)
        if enc.threshold is not None:
            acts = acts * (pre > enc.threshold.to(x.device))
    acts = acts.float()
    return acts * enc.scale.to(x.device) if enc.scale is not None else acts
