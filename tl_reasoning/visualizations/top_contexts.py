"""Top-activating contexts of many features, gathered in one pass over a corpus.

:class:`TopKAccumulator` keeps, per feature, the ``k`` largest activations with their document,
position and the token window around them (``before`` tokens before, ``after`` after). Memory is
``features × k × window``, whatever the corpus size: each batch's own top-k per feature is merged
into the running top-k. :func:`gather_top_contexts` runs the model once per batch of documents
(stopping at the SAE's site) and feeds the accumulator; :func:`top_contexts_view` shows the windows
as circuitsvis coloured tokens with the maximum token in bold.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from tl_reasoning.units import unit_directions
from tl_reasoning.views import Component, View, cv_tokens, esc

__all__ = ["TopContexts", "TopKAccumulator", "gather_top_contexts", "top_contexts_view"]


@dataclass
class TopContexts:
    """Per feature (rows of every tensor, in ``features`` order) the top-``k`` activations, best first.

    ``values [F, k]`` (``-inf`` where fewer were seen), ``doc``/``pos [F, k]`` (document index in the
    corpus and token position in its tokenization, BOS = 0; ``-1`` where empty), ``token_ids`` and
    ``window_values [F, k, before + 1 + after]`` (``-1`` / 0 outside the document), ``strings`` maps
    token ids to display strings.
    """

    features: list[int]
    values: torch.Tensor
    doc: torch.Tensor
    pos: torch.Tensor
    token_ids: torch.Tensor
    window_values: torch.Tensor
    before: int
    after: int
    strings: dict[int, str]
    docs_seen: int = 0
    truncated_docs: int = 0
    """Documents longer than the context (only their first ``context_size`` tokens were searched)."""

    def row(self, feature: int) -> int:
        try:
            return self.features.index(int(feature))
        except ValueError:
            raise KeyError(f"feature {feature} was not gathered; gathered: {self.features[:10]}...") from None

    def contexts(self, feature: int) -> list[dict[str, Any]]:
        """The feature's contexts with positive activation, best first: value, doc, pos, tokens, values."""
        r = self.row(feature)
        out = []
        for j in range(self.values.shape[1]):
            value = float(self.values[r, j])
            if not value > 0:
                continue
            ids = self.token_ids[r, j]
            keep = ids >= 0
            out.append({"value": value, "doc": int(self.doc[r, j]), "pos": int(self.pos[r, j]),
                        "tokens": [self.strings.get(int(i), f"<{int(i)}>") for i in ids[keep]],
                        "values": self.window_values[r, j][keep].tolist(),
                        "center": int(keep[: self.before].sum())})
        return out


class TopKAccumulator:
    """Running per-feature top-``k`` activations with their windows (bounded memory)."""

    def __init__(self, n_features: int, k: int = 20, before: int = 8, after: int = 4) -> None:
        if k < 1 or before < 0 or after < 0:
            raise ValueError(f"need k >= 1 and non-negative window sizes, got k={k}, window=({before}, {after})")
        self.k, self.before, self.after = int(k), int(before), int(after)
        width = before + 1 + after
        self.values = torch.full((n_features, k), float("-inf"))
        self.doc = torch.full((n_features, k), -1, dtype=torch.long)
        self.pos = torch.full((n_features, k), -1, dtype=torch.long)
        self.token_ids = torch.full((n_features, k, width), -1, dtype=torch.long)
        self.window_values = torch.zeros((n_features, k, width))

    def update(self, feats: torch.Tensor, input_ids: torch.Tensor, valid: torch.Tensor, first_doc: int) -> None:
        """Merge one batch: ``feats [B, S, F]`` activations, ``input_ids``/``valid [B, S]``.

        Rows are documents ``first_doc, first_doc + 1, ...``; only ``valid`` tokens compete (windows
        may show any real token of the document, ``valid`` or not).
        """
        feats = feats.detach().float().cpu()
        input_ids, valid = input_ids.cpu(), valid.cpu().bool()
        n_batch, seq, n_feat = feats.shape
        if n_feat != self.values.shape[0]:
            raise ValueError(f"expected activations of {self.values.shape[0]} features, got {n_feat}")
        masked = feats.masked_fill(~valid[..., None], float("-inf")).reshape(n_batch * seq, n_feat)
        k = min(self.k, n_batch * seq)
        vals, idx = masked.topk(k, dim=0)                       # [k, F]
        vals, idx = vals.T, idx.T                              # [F, k]
        b, s = idx // seq, idx % seq
        offsets = torch.arange(-self.before, self.after + 1)
        wpos = s[..., None] + offsets                          # [F, k, W]
        inside = (wpos >= 0) & (wpos < seq)
        wpos_c = wpos.clamp(0, seq - 1)
        bb = b[..., None].expand_as(wpos_c)
        real = inside & (input_ids[bb, wpos_c] >= 0)
        ids = torch.where(real, input_ids[bb, wpos_c], torch.full_like(wpos_c, -1))
        fidx = torch.arange(n_feat)[:, None, None].expand_as(wpos_c)
        wvals = torch.where(real, feats[bb, wpos_c, fidx], torch.zeros(()))
        self._merge(vals, b + first_doc, s, ids, wvals)

    def _merge(self, vals: torch.Tensor, doc: torch.Tensor, pos: torch.Tensor, ids: torch.Tensor,
               wvals: torch.Tensor) -> None:
        all_vals = torch.cat([self.values, vals], dim=1)
        top, order = all_vals.topk(self.k, dim=1)
        self.values = top
        self.doc = torch.cat([self.doc, doc], 1).gather(1, order)
        self.pos = torch.cat([self.pos, pos], 1).gather(1, order)
        wide = order[..., None].expand(-1, -1, self.token_ids.shape[2])
        self.token_ids = torch.cat([self.token_ids, ids], 1).gather(1, wide)
        self.window_values = torch.cat([self.window_values, wvals], 1).gather(1, wide)
        empty = ~torch.isfinite(self.values)
        self.doc[empty], self.pos[empty] = -1, -1
        self.token_ids[empty] = -1

    def result(self, features: Sequence[int], strings: dict[int, str], docs_seen: int = 0) -> TopContexts:
        return TopContexts([int(f) for f in features], self.values, self.doc, self.pos, self.token_ids,
                           self.window_values, self.before, self.after, strings, docs_seen)


def gather_top_contexts(
    model: Any,
    sae: Any,
    data: Any,
    features: Sequence[int],
    *,
    k: int = 20,
    window: tuple[int, int] = (8, 4),
    decoder_norm: bool = True,
    context_size: int | None = None,
    batch_size: int = 8,
    max_docs: int | None = None,
    site: str | None = None,
    text_field: str = "text",
    progress: bool = False,
) -> TopContexts:
    """Top-``k`` activating contexts of each of ``features`` over ``data``, in one pass.

    ``data``: a corpus spec or a list of texts/dicts (as :func:`tl_reasoning.score_features`).
    ``window``: tokens (before, after) shown around each maximum. ``decoder_norm``: activations
    times ‖d_i‖ (:func:`~tl_reasoning.units.unit_norms`), the units of ``tl-reasoning score``
    (default); ``False`` for raw ``sae.encode``. ``context_size``: tokens per document (default
    the model's context, longer documents are truncated: ``truncated_docs`` counts them).
    BOS, EOS and padding never compete.
    """
    from tl_reasoning.loading.saes import check_sae_compatible
    from tl_reasoning.plugins import backend_for
    from tl_reasoning.scoring.collect import resolve_context_size, texts_of
    from tl_reasoning.scoring.config import StatsConfig
    from tl_reasoning.scoring.windows import valid_tokens

    feature_list = [int(f) for f in features]
    if not feature_list:
        raise ValueError("gather_top_contexts needs at least one feature")
    backend = backend_for(model)
    site = check_sae_compatible(backend.model, sae, site)
    context_size = resolve_context_size(StatsConfig(context_size=context_size), backend).context_size
    d_sae = int(sae.cfg.d_sae)
    bad = [f for f in feature_list if not 0 <= f < d_sae]
    if bad:
        raise ValueError(f"features {bad[:5]} are out of range for an SAE with {d_sae} features")
    index = torch.tensor(feature_list, device=sae.W_dec.device)
    norms = unit_directions(sae, index).norm(dim=1).to(sae.W_dec.device) if decoder_norm else None
    special = sorted(backend.special_token_ids)
    acc = TopKAccumulator(len(feature_list), k, *window)
    docs = itertools.islice(iter(texts_of(data, text_field)), max_docs)
    bar = _bar(progress, max_docs)
    seen = truncated = 0
    with torch.no_grad():
        while batch := list(itertools.islice(docs, batch_size)):
            ids, mask = backend.tokenize(batch)
            if ids.shape[1] > context_size:
                truncated += int((mask.sum(1) > context_size).sum())
                ids, mask = ids[:, :context_size].contiguous(), mask[:, :context_size].contiguous()
            resid = backend.capture(ids, [site], attention_mask=mask)[site]
            feats = sae.encode(resid.to(sae.W_dec.device, sae.W_dec.dtype))
            feats = (feats.to_dense() if feats.is_sparse else feats)[..., index].float()
            if norms is not None:
                feats = feats * norms
            ids_shown = ids.masked_fill(~mask.bool(), -1)
            acc.update(feats, ids_shown, valid_tokens(ids, mask, special), seen)
            seen += len(batch)
            bar.update(len(batch))
    bar.close()
    unique = sorted({int(i) for i in acc.token_ids.unique().tolist() if i >= 0})
    strings = dict(zip(unique, backend.to_str_tokens(unique), strict=True))
    result = acc.result(feature_list, strings, seen)
    result.truncated_docs = truncated
    return result


def _bar(enabled: bool, total: int | None) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="top contexts", unit="doc", disable=not enabled, leave=False)


def top_contexts_view(contexts: TopContexts, feature: int, max_contexts: int | None = None) -> View:
    """The feature's top contexts: activation, doc:pos and the window as coloured tokens.

    Each context's line names its maximum token in bold; the window below is circuitsvis
    ``ColoredTokens`` on one colour scale for all contexts of the feature (hover for values).
    """
    items = contexts.contexts(feature)[:max_contexts]
    title = f"Feature {feature}: top activating contexts"
    if not items:
        return View(["<p class='tlr-meta'>no positive activation in the corpus</p>"], title,
                    {"contexts": []})
    scale = max(it["value"] for it in items)
    blocks: list[Any] = []
    for rank, it in enumerate(items, 1):
        token = it["tokens"][it["center"]]
        blocks.append(f"<p class='tlr-meta'>#{rank} · {it['value']:.3g} · doc {it['doc']} pos {it['pos']} · "
                      f"max token <b class='tlr-max'>{esc(repr(token))}</b></p>")
        blocks.append(Component("ColoredTokens", {"tokens": cv_tokens(it["tokens"]), "values": it["values"],
                                                  "minValue": 0.0, "maxValue": scale}))
    return View(blocks, title, {"contexts": items})
