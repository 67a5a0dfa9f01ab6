"""Token-injection test: does a feature fire on a vocabulary word wherever it appears?

A high ReasonScore can come from a feature that detects the *tokens* "wait" or "but" rather than
a reasoning state (critique in peers.md, GeorgeMLP/reasoning-probing). This test inserts
vocabulary words at random word boundaries of plain, non-reasoning text and compares the feature's
mean activation on the injected tokens with its mean on the same words inside real reasoning text.
A ratio near 1 means the word alone triggers the feature (a token detector); near 0 means it needs
the reasoning context. Unlike the scorers it needs forward passes, so it runs on few features and
documents.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from tl_reasoning.scoring.collect import encode_features, texts_of
from tl_reasoning.scoring.windows import model_context, valid_tokens
from tl_reasoning.units import unit_directions
from tl_reasoning.vocab.expand import ExpandedVocabulary, TokenVariant, expand_vocabulary
from tl_reasoning.vocab.matching import TokenEdges, match_words

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["inject_words", "injection_test"]


def inject_words(
    text: str, vocab: ExpandedVocabulary, tokenizer: Any, n: int, rng: random.Random
) -> tuple[list[int], list[int]]:
    """Token ids of ``text`` with ``n`` vocabulary words inserted at random word boundaries.

    Returns ``(ids, positions)`` without BOS; ``positions`` index every token of every inserted
    word. Text pieces are tokenized separately, so the inserted word keeps exactly its variant's
    ids: a capitalised form without leading space at the start, a lower-case form with a leading
    space elsewhere (when the vocabulary has them).
    """
    parts = text.split(" ")
    points = sorted(rng.sample(range(len(parts) + 1), min(n, len(parts) + 1)))
    ids: list[int] = []
    positions: list[int] = []
    done = 0
    for point in points:
        piece = " ".join(parts[done:point])
        if piece:
            ids += _encode(tokenizer, (" " if done else "") + piece)
        variant = _pick_variant(vocab, rng, at_start=not ids)
        positions += range(len(ids), len(ids) + len(variant.ids))
        ids += list(variant.ids)
        done = point
    rest = " ".join(parts[done:])
    if rest:
        ids += _encode(tokenizer, " " + rest if ids else rest)
    return ids, positions


def injection_test(
    model: Any,
    sae: Any,
    features: Sequence[int],
    plain: Any,
    reasoning: Any,
    *,
    vocab: Any = None,
    n_docs: int = 64,
    injections_per_doc: int = 2,
    seed: int = 0,
    context_size: int = 256,
    batch_size: int = 8,
    decoder_norm: bool = True,
    word_boundary: bool = True,
    site: str | None = None,
    text_field: str = "text",
) -> pd.DataFrame:
    """Per feature: mean activation on words injected into ``plain`` vs on the words in ``reasoning``.

    Columns: ``feature, mean_injected, mean_reasoning_matched, mean_plain_other, ratio, n_injected,
    n_matched``; ``ratio = mean_injected / mean_reasoning_matched`` (NaN when the feature never
    fires on the words in reasoning text). Activations are scaled by ‖d_i‖ like the statistics
    unless ``decoder_norm=False``. ``plain`` / ``reasoning``: corpus specs or lists of texts.
    """
    import pandas as pd

    from tl_reasoning.loading.saes import check_sae_compatible
    from tl_reasoning.plugins import backend_for

    backend = backend_for(model)
    site = check_sae_compatible(backend.model, sae, site)
    context_size = min(context_size, model_context(backend) or context_size)  # never past the model's context
    expanded = vocab if isinstance(vocab, ExpandedVocabulary) else expand_vocabulary(vocab, backend.tokenizer)
    feats = torch.as_tensor(list(features), dtype=torch.long)
    scale = unit_directions(sae, feats).norm(dim=1).to(sae.W_dec.device) if decoder_norm else None
    rng = random.Random(seed)
    special = sorted(backend.special_token_ids)
    bos = [backend.bos_token_id] if backend.bos_token_id is not None else []

    rows: list[list[int]] = []
    inj_masks: list[list[int]] = []
    for text in _first(texts_of(plain, text_field), n_docs):
        ids, positions = inject_words(text, expanded, backend.tokenizer, injections_per_doc, rng)
        ids = (bos + ids)[:context_size]
        rows.append(ids)
        mask = [0] * len(ids)
        for p in positions:
            if p + len(bos) < len(ids):
                mask[p + len(bos)] = 1
        inj_masks.append(mask)
    if not rows:
        raise ValueError("the injection test needs plain documents; the plain corpus is empty")
    inj_sum, inj_n, other_sum, other_n = _masked_means(backend, sae, site, rows, inj_masks, special, feats, scale,
                                                       batch_size)

    edges = TokenEdges(backend.tokenizer) if word_boundary else None
    texts = _first(texts_of(reasoning, text_field), n_docs)
    real_sum = torch.zeros(len(feats), dtype=torch.float64)
    real_n = 0
    for start in range(0, len(texts), batch_size):
        ids, attn = backend.tokenize(texts[start:start + batch_size], max_length=context_size)
        valid = valid_tokens(ids, attn, special)
        matched = match_words(ids, valid, expanded, edges).any(-1)
        ((s, n),) = _sums_at(backend, sae, site, ids, attn, [matched], feats, scale)
        real_sum += s
        real_n += n
    mean_inj = inj_sum / max(inj_n, 1)
    mean_real = real_sum / max(real_n, 1)
    ratio = torch.where(mean_real > 0, mean_inj / mean_real.clamp(min=1e-300), torch.full_like(mean_inj, float("nan")))
    return pd.DataFrame({
        "feature": feats.numpy(), "mean_injected": mean_inj.numpy(), "mean_reasoning_matched": mean_real.numpy(),
        "mean_plain_other": (other_sum / max(other_n, 1)).numpy(), "ratio": ratio.numpy(),
        "n_injected": inj_n, "n_matched": real_n,
    })


def _masked_means(
    backend: Any, sae: Any, site: str, rows: list[list[int]], inj_masks: list[list[int]], special: list[int],
    feats: torch.Tensor, scale: torch.Tensor | None, batch_size: int,
) -> tuple[torch.Tensor, int, torch.Tensor, int]:
    """Sums and counts at injected positions and at the other counted positions of padded batches."""
    inj_sum = torch.zeros(len(feats), dtype=torch.float64)
    other_sum = torch.zeros(len(feats), dtype=torch.float64)
    inj_n = other_n = 0
    for start in range(0, len(rows), batch_size):
        chunk, masks = rows[start:start + batch_size], inj_masks[start:start + batch_size]
        width = max(len(r) for r in chunk)
        ids = torch.full((len(chunk), width), backend.pad_token_id, dtype=torch.long)
        attn = torch.zeros_like(ids)
        injected = torch.zeros_like(ids, dtype=torch.bool)
        for i, (row, mask) in enumerate(zip(chunk, masks, strict=True)):
            ids[i, : len(row)] = torch.tensor(row)
            attn[i, : len(row)] = 1
            injected[i, : len(row)] = torch.tensor(mask, dtype=torch.bool)
        ids, attn = ids.to(backend.device), attn.to(backend.device)
        valid = valid_tokens(ids, attn, special).cpu()
        (s_inj, n_inj), (s_other, n_other) = _sums_at(
            backend, sae, site, ids, attn, [injected & valid, valid & ~injected], feats, scale)
        inj_sum, inj_n = inj_sum + s_inj, inj_n + n_inj
        other_sum, other_n = other_sum + s_other, other_n + n_other
    return inj_sum, inj_n, other_sum, other_n


def _sums_at(
    backend: Any, sae: Any, site: str, ids: torch.Tensor, attn: torch.Tensor, masks: list[torch.Tensor],
    feats: torch.Tensor, scale: torch.Tensor | None,
) -> list[tuple[torch.Tensor, int]]:
    """One forward pass; per boolean ``[batch, seq]`` mask the activation sums of ``feats`` and the count."""
    flat = [m.reshape(-1).cpu() for m in masks]
    rows = torch.stack(flat).any(0).nonzero().squeeze(1)
    if not rows.numel():
        return [(torch.zeros(len(feats), dtype=torch.float64), 0) for _ in masks]
    resid = backend.capture(ids, [site], attention_mask=attn)[site]
    x = resid.reshape(-1, resid.shape[-1])[rows.to(resid.device)]
    acts = encode_features(sae, x)[:, feats.to(x.device)].double().cpu()
    if scale is not None:
        acts = acts * scale.double().cpu()
    return [(acts[m[rows]].sum(0), int(m.sum())) for m in flat]


def _pick_variant(vocab: ExpandedVocabulary, rng: random.Random, at_start: bool) -> TokenVariant:
    variants = vocab.for_group(rng.randrange(vocab.n_groups))
    if at_start:
        preferred = [v for v in variants if not v.leading_space and v.text[:1].isupper()]
        fallback = [v for v in variants if not v.leading_space]
    else:
        preferred = [v for v in variants if v.leading_space and not v.text.strip()[:1].isupper()]
        fallback = [v for v in variants if v.leading_space]
    return (preferred or fallback or variants)[0]


def _encode(tokenizer: Any, text: str) -> list[int]:
    return [int(i) for i in tokenizer(text, add_special_tokens=False)["input_ids"]]


def _first(texts: Any, n: int) -> list[str]:
    out: list[str] = []
    for text in texts:
        if len(out) >= n:
            break
        out.append(text)
    return out
