"""The logit lens of a feature: tokens its decoder direction promotes and suppresses.

As the paper's dashboards (SAEDashboard): ``W_dec[i] / ‖W_dec[i]‖ · W_U`` with no final layer
norm, top-``k`` (promoted) and bottom-``k`` (suppressed) tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from tl_reasoning.views import Component, View, cv_tokens

__all__ = ["LogitLens", "logit_lens", "logit_lens_view", "unembedding"]


@dataclass
class LogitLens:
    """Promoted and suppressed tokens (display strings, values) of one feature, strongest first."""

    feature: int
    promoted: list[tuple[str, float]]
    suppressed: list[tuple[str, float]]


def unembedding(model: Any) -> torch.Tensor:
    """``[d_model, d_vocab]`` unembedding of a HookedTransformer, TransformerBridge, nnsight or HF model."""
    inner = getattr(model, "model", None) if not hasattr(model, "W_U") else None
    for candidate in (model, inner):
        if candidate is None:
            continue
        w_u = getattr(candidate, "W_U", None)
        if isinstance(w_u, torch.Tensor):
            return w_u.detach()
        head = getattr(candidate, "lm_head", None)
        if head is not None and isinstance(getattr(head, "weight", None), torch.Tensor):
            return head.weight.detach().T
        get = getattr(candidate, "get_output_embeddings", None)
        if callable(get) and get() is not None:
            return get().weight.detach().T
    raise TypeError(f"cannot find the unembedding (W_U or lm_head) of a {type(model).__name__}")


def logit_lens(model: Any, sae: Any, features: Sequence[int], k: int = 10) -> list[LogitLens]:
    """Top/bottom-``k`` tokens of ``W_dec[i]/‖W_dec[i]‖ · W_U`` for each of ``features`` (one matmul)."""
    from tl_reasoning.plugins import backend_for

    feature_list = [int(f) for f in features]
    w_u = unembedding(model).float()
    with torch.no_grad():
        rows = sae.W_dec.detach()[torch.tensor(feature_list, device=sae.W_dec.device)].float()
        rows = rows / rows.norm(dim=1, keepdim=True).clamp(min=1e-12)
        logits = (rows.to(w_u.device) @ w_u).cpu()
    k = min(k, logits.shape[1])
    top = logits.topk(k, dim=1)
    bottom = (-logits).topk(k, dim=1)
    ids = sorted(set(top.indices.flatten().tolist()) | set(bottom.indices.flatten().tolist()))
    strings = dict(zip(ids, backend_for(model).to_str_tokens(ids), strict=True))
    return [LogitLens(f, [(strings[int(i)], float(v)) for v, i in zip(top.values[r], top.indices[r], strict=True)],
                      [(strings[int(i)], -float(v)) for v, i in zip(bottom.values[r], bottom.indices[r], strict=True)])
            for r, f in enumerate(feature_list)]


def logit_lens_view(lens: LogitLens) -> View:
    """Promoted (green) and suppressed (red) tokens as circuitsvis coloured tokens; hover for values."""
    scale = max([abs(v) for _, v in lens.promoted + lens.suppressed] + [1e-6])
    blocks: list[Any] = []
    for label, items in (("promoted", lens.promoted), ("suppressed", lens.suppressed)):
        blocks.append(f"<p class='tlr-meta'>{label} ({', '.join(f'{v:+.2f}' for _, v in items[:3])}, …)</p>")
        blocks.append(Component("ColoredTokens", {"tokens": cv_tokens(f" {t} " for t, _ in items),
                                                  "values": [v for _, v in items],
                                                  "minValue": -scale, "maxValue": scale}))
    return View(blocks, f"Feature {lens.feature}: logit lens",
                {"promoted": lens.promoted, "suppressed": lens.suppressed})
