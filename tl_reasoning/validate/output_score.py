"""Output score of every SAE feature (Arad et al., arXiv 2505.20063): does steering it raise the
logits of the reflection words?

For each feature ``i`` the push ``strength_i · d_i`` (``d_i`` the feature's direction in the
:mod:`tl_reasoning.units` convention) is added at the SAE site on every real token of a few
contexts from the reasoning corpus, and the rest of the model runs. ``strength_i = ρ · mean‖x‖ /
‖d_i‖``, so every feature moves the residual by the same fraction ρ of its mean norm (ρ as in
:mod:`tl_reasoning.steering.push`, measured on the same contexts, BOS and padding left out) and
features compete on what their direction does, not on their scale.

The score is the mean, over the contexts' real positions, of the change in

* ``measure="logit"`` (default): the mean log-probability of the reflection tokens minus the mean
  log-probability over the whole vocabulary — i.e. the reflection tokens' mean logit relative to
  the mean logit, which is invariant to a shift of all logits;
* ``measure="mass"``: the log of the probability mass on the reflection tokens minus the same
  vocabulary mean.

Reflection tokens: the first token of every variant of the reasoning vocabulary (the statistics'
own expanded vocabulary when given, else the paper's 10 words). Features are stacked along the
batch dimension (``feature_batch`` features × the contexts per forward), so all ``d_sae`` features
take ``⌈d_sae / feature_batch⌉`` forwards. Edits are installed through the backend and removed in
``finally``, whatever happens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["MEASURES", "output_scores", "reflection_token_ids"]

MEASURES = ("logit", "mass")


def reflection_token_ids(tokenizer: Any, vocab: Any = None) -> list[int]:
    """First token ids of every variant of ``vocab`` (an expanded-vocabulary dict, any vocabulary spec).

    ``vocab`` may be the ``{word: [{"text", "ids"}]}`` mapping statistics store in
    ``meta["config"]["vocab"]``; otherwise it is expanded with ``tokenizer``.
    """
    from tl_reasoning.vocab.expand import ExpandedVocabulary, expand_vocabulary

    if isinstance(vocab, dict) and vocab and all(isinstance(v, list) and v and isinstance(v[0], dict)
                                                 for v in vocab.values()):
        expanded = ExpandedVocabulary.from_json(vocab)
    else:
        expanded = expand_vocabulary(vocab, tokenizer)
    ids = sorted({v.ids[0] for v in expanded.variants if v.ids})
    if not ids:
        raise ValueError("the reasoning vocabulary gives no token ids with this tokenizer")
    return ids


def _measure(logits: torch.Tensor, token_ids: torch.Tensor, measure: str) -> torch.Tensor:
    """``[batch, seq]``: reflection-token log-probability (mean or mass) minus the vocabulary mean."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    picked = logp.index_select(-1, token_ids)
    target = picked.mean(-1) if measure == "logit" else torch.logsumexp(picked, dim=-1)
    return target - logp.mean(-1)


def output_scores(
    model: Any,
    sae: Any,
    contexts: Sequence[str],
    *,
    rho: float = 0.2,
    vocab: Any = None,
    token_ids: Sequence[int] | None = None,
    measure: str = "logit",
    max_length: int = 64,
    feature_batch: int = 64,
    features: Sequence[int] | None = None,
    site: str | None = None,
) -> torch.Tensor:
    """``[d_sae]`` float64 output scores (module docstring); features not in ``features`` get NaN.

    :param contexts: texts of the reasoning corpus (a few suffice; each cut to ``max_length`` tokens).
    :param rho: push as a fraction of the contexts' mean residual norm at the site.
    :param vocab: reasoning vocabulary whose first tokens are the reflection tokens (or ``token_ids``).
    :param feature_batch: features per forward pass (rows = ``feature_batch × len(contexts)``).
    """
    from tl_reasoning.loading.saes import check_sae_compatible
    from tl_reasoning.plugins import backend_for
    from tl_reasoning.steering.push import real_token_mask
    from tl_reasoning.units import unit_directions

    texts = [str(t) for t in contexts if str(t).strip()]
    if not texts:
        raise ValueError("output_score needs at least one non-empty context text from the reasoning corpus")
    if measure not in MEASURES:
        raise ValueError(f"unknown output-score measure {measure!r}; use one of {', '.join(MEASURES)}")
    if not (rho > 0 and rho == rho and rho != float("inf")):
        raise ValueError(f"rho must be a finite number > 0, got {rho}")
    if feature_batch < 1 or max_length < 2:
        raise ValueError(f"feature_batch must be >= 1 and max_length >= 2, got {feature_batch}, {max_length}")
    backend = backend_for(model)
    site = check_sae_compatible(backend.model, sae, site)
    d_sae = int(sae.cfg.d_sae)
    feats = torch.arange(d_sae) if features is None else torch.as_tensor(list(features), dtype=torch.long)
    ids = torch.as_tensor(list(token_ids) if token_ids is not None else reflection_token_ids(backend.tokenizer, vocab),
                          dtype=torch.long)
    batch = backend.tokenize(texts, max_length=max_length)
    real = real_token_mask(backend, batch.input_ids, batch.attention_mask)
    attend = batch.attention_mask.cpu().bool()
    n_ctx = len(texts)
    with torch.no_grad():
        x = backend.capture(batch.input_ids, [site], batch.attention_mask)[site].float().cpu()
        x_norm = float(x.norm(dim=-1)[real].mean())
        base = _measure(backend.forward(batch.input_ids, batch.attention_mask).cpu(), ids, measure)
    directions = unit_directions(sae, feats).float().cpu()
    norms = directions.norm(dim=1)
    pushes = directions * (rho * x_norm / norms.clamp(min=1e-12))[:, None]
    pushes[norms == 0] = 0.0
    scores = torch.full((d_sae,), float("nan"), dtype=torch.float64)
    weight = attend.float()
    for start in range(0, feats.numel(), feature_batch):
        chunk = feats[start:start + feature_batch]
        rows = chunk.numel()
        delta = pushes[start:start + rows].repeat_interleave(n_ctx, dim=0)  # row j*n_ctx + c: feature j
        mask = real.repeat(rows, 1)

        def edit(act: torch.Tensor, positions: torch.Tensor, delta: torch.Tensor = delta,
                 mask: torch.Tensor = mask) -> torch.Tensor:
            where = mask[:, positions.cpu().clamp(max=mask.shape[1] - 1)].to(act.device, act.dtype)
            return act + delta.to(act.device, act.dtype)[:, None, :] * where[..., None]

        handle = backend.add_edit(site, edit)
        try:
            with torch.no_grad():
                logits = backend.forward(batch.input_ids.repeat(rows, 1), batch.attention_mask.repeat(rows, 1))
        finally:
            handle.remove()
        change = (_measure(logits.cpu(), ids, measure) - base.repeat(rows, 1)) * weight.repeat(rows, 1)
        per_row = change.reshape(rows, n_ctx, -1).sum(dim=(1, 2)) / weight.sum()
        scores[chunk] = per_row.double()
    return scores
