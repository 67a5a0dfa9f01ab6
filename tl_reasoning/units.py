"""A feature's units, defined once: what one unit of latent ``i`` adds to the SAE's reconstruction.

``d_i = decode(e_i) − decode(0)``. That is ``W_dec[i]`` for a plain SAE, ``W_dec[i] / ‖W_dec[i]‖``
for a sae-lens TopK SAE with ``rescale_acts_by_decoder_norm`` (whose ``encode`` already returns
activations multiplied by ``‖W_dec[i]‖``), and whatever another architecture's ``decode`` does.
Scoring folds activations as ``f_i · ‖d_i‖`` (what ``fold_W_dec_norm`` gives for every architecture);
steering pushes along ``d_i`` with ``f_max`` in ``encode`` units. The result is a plain tensor, so the
edits built from it stay remote-safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["UNITS", "unit_directions", "unit_norms"]

#: The unit convention written into statistics files; files without it used ``‖W_dec[i]‖`` and are refused.
UNITS = "activation*|decode(e_i)-decode(0)|"

_PER_TOKEN_NORMALISATION = ("layer_norm", "constant_norm_rescale")
_PROBE = 8


def _check_decodable(sae: Any) -> None:
    mode = getattr(sae.cfg, "normalize_activations", "none")
    if mode in _PER_TOKEN_NORMALISATION:
        raise ValueError(
            f"this SAE normalises each input (normalize_activations={mode!r}), so what a unit of a latent adds "
            "depends on the token; use an SAE without run-time normalisation (or fold it into the weights)"
        )


def _exact(sae: Any, features: torch.Tensor, chunk: int) -> torch.Tensor:
    """``decode(e_i) − decode(0)`` by decoding one-hot codes, ``chunk`` features at a time."""
    d_sae = int(sae.cfg.d_sae)
    dtype = sae.W_dec.dtype
    with torch.no_grad():
        zero = sae.decode(torch.zeros(1, d_sae, dtype=dtype, device=sae.W_dec.device)).reshape(1, -1)
        parts = []
        for start in range(0, features.numel(), chunk):
            idx = features[start:start + chunk]
            onehot = torch.zeros(idx.numel(), d_sae, dtype=dtype, device=sae.W_dec.device)
            onehot[torch.arange(idx.numel()), idx] = 1
            parts.append(sae.decode(onehot).reshape(idx.numel(), -1) - zero)
    return torch.cat(parts).float()


def _analytic(sae: Any, features: torch.Tensor) -> torch.Tensor:
    rows = sae.W_dec.detach().index_select(0, features).float()
    if getattr(sae.cfg, "rescale_acts_by_decoder_norm", False):
        rows = rows / rows.norm(dim=1, keepdim=True).clamp(min=1e-12)
    return rows


def unit_directions(sae: Any, features: Sequence[int] | torch.Tensor | None = None, *,
                    chunk: int = 1024) -> torch.Tensor:
    """``[k, d_in]`` float32 ``d_i = decode(e_i) − decode(0)`` for ``features`` (default: all).

    Known architectures are computed from ``W_dec`` directly and checked against ``decode`` on a
    few features; when the check fails (an architecture this code does not know), every direction
    is decoded exactly.
    """
    _check_decodable(sae)
    d_sae = int(sae.cfg.d_sae)
    if features is None:
        idx = torch.arange(d_sae, device=sae.W_dec.device)
    else:
        idx = torch.as_tensor(features, dtype=torch.long).reshape(-1).to(sae.W_dec.device)
        bad = idx[(idx < 0) | (idx >= d_sae)]
        if bad.numel():
            raise ValueError(f"feature index {int(bad[0])} is out of range for an SAE with d_sae={d_sae}")
    analytic = _analytic(sae, idx)
    probe = torch.linspace(0, idx.numel() - 1, min(_PROBE, idx.numel())).round().long()
    exact = _exact(sae, idx[probe], chunk)
    eps = torch.finfo(sae.W_dec.dtype).eps
    atol = 8 * eps * (1.0 + float(sae.b_dec.detach().abs().max()))
    if exact.shape == analytic[probe].shape and torch.allclose(exact, analytic[probe], rtol=max(1e-4, 8 * eps),
                                                               atol=atol):
        return analytic
    return _exact(sae, idx, chunk)


def unit_norms(sae: Any) -> torch.Tensor:
    """``[d_sae]`` float32 ``‖d_i‖``: the factor that puts ``encode`` activations in folded units."""
    return unit_directions(sae).norm(dim=1)
