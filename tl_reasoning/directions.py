"""SAE-free steering directions from paired long-vs-short reasoning (arXiv 2505.15634).

For pairs (long/deliberate solution ``L_k``, short solution ``S_k``) of the same problems, each
pair gives ``d_k = mean_t h(L_k) − mean_t h(S_k)`` at a site (token means over text tokens; special
tokens and padding are left out). Two directions are offered:

* **mean difference** ``mean_k d_k`` (natural scale: adding it once moves a short trace's mean to a
  long one's);
* **top eigenvector** of ``A Aᵀ`` with ``A = [d_1 … d_N]`` = the top left singular vector of ``A``
  (unit norm), oriented so that ``v · mean_k d_k > 0`` (an eigen-solver's sign is arbitrary).

They steer additively, ``h′ = h + s·v``, optionally rescaled to the original norm
(``h′·‖h‖/‖h′‖``, the paper's setting), or by projection (``cap``/``ablate``) through
:func:`direction_steering`, with the same position rules as SAE features.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from tl_reasoning.positions import Positions
from tl_reasoning.sae_weights import SAEWeights
from tl_reasoning.steering.spec import Steering

__all__ = ["direction_steering", "mean_difference", "pair_differences", "reasoning_direction", "top_eigenvector"]


def pair_differences(
    model: Any,
    long_texts: Sequence[str],
    short_texts: Sequence[str],
    site: str,
    *,
    batch_size: int = 8,
    max_length: int | None = 512,
) -> torch.Tensor:
    """``[N, d]``: per pair, mean activation at ``site`` over the long text minus over the short one."""
    if len(long_texts) != len(short_texts):
        raise ValueError(f"paired texts differ in number: {len(long_texts)} long vs {len(short_texts)} short")
    if not long_texts:
        raise ValueError("pair_differences needs at least one pair of texts")
    return (_mean_activations(model, long_texts, site, batch_size, max_length)
            - _mean_activations(model, short_texts, site, batch_size, max_length))


def _mean_activations(model: Any, texts: Sequence[str], site: str, batch_size: int,
                      max_length: int | None) -> torch.Tensor:
    from tl_reasoning.plugins import backend_for

    backend = backend_for(model)
    site = backend.check_site(site).name
    special = torch.tensor(sorted(backend.special_token_ids), dtype=torch.long)
    means = []
    for start in range(0, len(texts), batch_size):
        tokens = backend.tokenize(list(texts[start:start + batch_size]), max_length=max_length)
        acts = backend.capture(tokens.input_ids, [site], tokens.attention_mask)[site].float().cpu()
        ids = tokens.input_ids.cpu()
        keep = (tokens.attention_mask.cpu().bool() & ~torch.isin(ids, special)).float()
        counts = keep.sum(dim=1, keepdim=True)
        if bool((counts == 0).any()):
            raise ValueError("a text has no tokens besides special tokens; remove empty texts")
        means.append((acts * keep[..., None]).sum(dim=1) / counts)
    return torch.cat(means)


def mean_difference(diffs: torch.Tensor) -> torch.Tensor:
    """``mean_k d_k`` of per-pair differences ``[N, d]`` → ``[d]``."""
    if diffs.ndim != 2 or diffs.shape[0] == 0:
        raise ValueError(f"expected per-pair differences [N, d] with N >= 1, got {tuple(diffs.shape)}")
    return diffs.mean(dim=0)


def top_eigenvector(diffs: torch.Tensor) -> torch.Tensor:
    """Unit top eigenvector of ``A Aᵀ`` (``A = diffsᵀ``), oriented so ``v · mean_k d_k > 0``; ``[d]``."""
    mean = mean_difference(diffs)
    _, _, vh = torch.linalg.svd(diffs.double(), full_matrices=False)
    v = vh[0].to(diffs.dtype)
    if float(v @ mean) < 0:
        v = -v
    return v


def reasoning_direction(
    model: Any,
    long_texts: Sequence[str],
    short_texts: Sequence[str],
    site: str,
    method: str = "eigen",
    **kwargs: Any,
) -> torch.Tensor:
    """The ``eigen`` (unit) or ``mean`` (difference-of-means) direction from paired texts, ``[d]``."""
    if method not in ("eigen", "mean"):
        raise ValueError(f"unknown direction method {method!r}; use 'eigen' or 'mean'")
    diffs = pair_differences(model, long_texts, short_texts, site, **kwargs)
    return top_eigenvector(diffs) if method == "eigen" else mean_difference(diffs)


def direction_steering(
    vector: torch.Tensor,
    site: str,
    strength: float | Sequence[float] | torch.Tensor = 1.0,
    *,
    mode: str = "add",
    positions: str | tuple[int, int | None] | Positions = "all",
    preserve_norm: bool = False,
    only_above: bool = False,
) -> Steering:
    """Steer along ``vector`` at ``site``: ``add`` (h + s·v), ``cap`` (projection on v̂ set to s) or ``ablate``.

    ``strength`` is one value or one per batch row (``[batch]`` or ``[batch, 1]``).
    """
    from tl_reasoning.interventions import ablate, additive, cap

    vec = torch.as_tensor(vector).detach().float().reshape(-1).clone()
    if not bool(torch.isfinite(vec).all()) or float(vec.norm()) == 0:
        raise ValueError("the steering direction must be a finite, non-zero vector")
    d = vec.shape[0]
    weights = SAEWeights(features=(0,), W_enc=(vec / vec.norm())[:, None].contiguous(), b_enc=torch.zeros(1),
                         W_dec=vec[None, :].contiguous(), b_dec=torch.zeros(d), directions=vec[None, :].contiguous())
    s = torch.as_tensor(strength, dtype=torch.float32)
    s = s[:, None] if s.ndim == 1 and s.numel() > 1 else s
    if mode == "add":
        edit = additive(weights, [0], s, 1.0)
    elif mode == "cap":
        edit = cap(weights, [0], s, 1.0, only_above=only_above)
    elif mode == "ablate":
        edit = ablate(weights, [0], how="direction")
    else:
        raise ValueError(f"unknown direction steering mode {mode!r}; use 'add', 'cap' or 'ablate'")
    rule = Positions.parse(positions)
    info = {"kind": "direction", "mode": mode, "direction_norm": float(vec.norm()), "strength": s.tolist(), "positions": str(rule),
            "preserve_norm": preserve_norm}
    recipe = {"kind": "direction", "vector": vec, "strength": s.tolist(), "mode": mode, "positions": str(rule),
              "preserve_norm": bool(preserve_norm), "only_above": bool(only_above)}
    return Steering(site, edit, rule, preserve_norm, d, info, recipe)
