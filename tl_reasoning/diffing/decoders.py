"""Decoder directions of an SAE, from whatever form the SAE comes in.

Model diffing compares SAEs only through their decoder rows ``W_dec`` (``[d_sae, d_in]``), so every
entry point accepts a sae-lens SAE, a :class:`~tl_reasoning.SAEWeights` (a subset of features), a raw
``[d_sae, d_in]`` tensor or array, or a load spec for :func:`tl_reasoning.load_sae`. They all become a
:class:`Decoder`: the rows plus the feature id of each row (a ``SAEWeights`` holds only some rows).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = ["Decoder", "as_decoder", "decoder_label"]


@dataclass(frozen=True)
class Decoder:
    """Decoder rows of one SAE: row ``r`` of ``weight`` is the direction of feature ``ids[r]``."""

    weight: torch.Tensor
    """``[n, d_in]`` decoder rows (not normalised; never copied from the source SAE)."""
    ids: torch.Tensor | None = None
    """``[n]`` feature id of each row; ``None`` means row ``r`` is feature ``r``."""
    name: str = "sae"

    @property
    def d_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_rows(self) -> int:
        return int(self.weight.shape[0])

    @property
    def d_sae(self) -> int:
        """Width of the SAE the rows come from (largest id + 1 for a subset)."""
        if self.ids is None:
            return self.n_rows
        return int(self.ids.max()) + 1 if self.ids.numel() else 0

    def feature_ids(self) -> torch.Tensor:
        """``[n]`` long tensor of the feature id of every row."""
        return torch.arange(self.n_rows) if self.ids is None else self.ids

    def rows_of(self, features: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Row positions of ``features`` (feature ids), with an error naming the first unknown one."""
        feats = torch.as_tensor(features, dtype=torch.long).reshape(-1)
        if self.ids is None:
            bad = feats[(feats < 0) | (feats >= self.n_rows)]
            if bad.numel():
                raise ValueError(f"feature {int(bad[0])} is out of range for SAE {self.name!r} with "
                                 f"d_sae={self.n_rows}")
            return feats
        lookup = {int(f): r for r, f in enumerate(self.ids.tolist())}
        missing = [int(f) for f in feats.tolist() if int(f) not in lookup]
        if missing:
            raise ValueError(f"feature {missing[0]} is not among the {self.n_rows} features held by {self.name!r}")
        return torch.tensor([lookup[int(f)] for f in feats.tolist()], dtype=torch.long)


def decoder_label(sae: Any) -> str:
    """A short human label for an SAE argument (a spec's last path part, else the SAE's site/type)."""
    if isinstance(sae, (str, os.PathLike)):
        text = os.fspath(sae).rstrip("/")
        return Path(text).name if os.sep in text or Path(text).exists() else text
    cfg = getattr(sae, "cfg", None)
    metadata = getattr(cfg, "metadata", None)
    hook = getattr(metadata, "hook_name", None) or getattr(cfg, "hook_name", None)
    if hook:
        return str(hook)
    return type(sae).__name__


def as_decoder(sae: Any, name: str | None = None) -> Decoder:
    """Turn ``sae`` into a :class:`Decoder` without copying its weights.

    ``sae``: a :class:`Decoder`; a sae-lens SAE or any object with a ``W_dec`` ``[d_sae, d_in]``
    attribute; a :class:`~tl_reasoning.SAEWeights` (rows of its ``features``); a 2-D tensor or array
    ``[d_sae, d_in]``; or a string/path that :func:`tl_reasoning.load_sae` understands.
    """
    from tl_reasoning.sae_weights import SAEWeights

    label = name or decoder_label(sae)
    if isinstance(sae, Decoder):
        return sae if name is None else Decoder(sae.weight, sae.ids, name)
    if isinstance(sae, (str, os.PathLike)):
        from tl_reasoning.loading.saes import load_sae

        sae = load_sae(sae)
    if isinstance(sae, SAEWeights):
        return Decoder(_matrix(sae.W_dec, label), torch.tensor(sae.features, dtype=torch.long), label)
    weight = getattr(sae, "W_dec", None)
    if weight is None:
        if isinstance(sae, torch.Tensor) or hasattr(sae, "__array__"):
            weight = sae
        else:
            raise TypeError(f"cannot read decoder directions from {type(sae).__name__}: pass a sae-lens SAE, "
                            "SAEWeights, a [d_sae, d_in] tensor or a load_sae spec")
    return Decoder(_matrix(weight, label), None, label)


def _matrix(weight: Any, label: str) -> torch.Tensor:
    tensor = weight.detach() if isinstance(weight, torch.Tensor) else torch.as_tensor(weight)
    if tensor.dim() != 2:
        raise ValueError(f"decoder of {label!r} must be a 2-D [d_sae, d_in] matrix, got shape {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        tensor = tensor.float()
    return tensor
