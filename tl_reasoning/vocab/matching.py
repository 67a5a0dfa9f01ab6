"""Finding vocabulary matches in token ids, with an optional word-boundary check.

A match is an exact contiguous occurrence of a variant's ids inside the real (valid) tokens of a
row; all its tokens are marked. With the boundary check on, ``"but"`` does not match inside
``"butter"``: using each token's decoded string, the token before a match must not end with a
letter or digit (unless the variant starts with a space), and the token after must not start with
a letter or digit. Positions outside the valid tokens (sequence edges, BOS, padding) count as
boundaries.
"""

from __future__ import annotations

from typing import Any

import torch

from tl_reasoning.vocab.expand import ExpandedVocabulary

__all__ = ["TokenEdges", "match_words"]

_SPACE_MARKERS = ("Ġ", "▁", "Ċ")


class TokenEdges:
    """Per token id: does its decoded string end / start with a letter or digit? (cached)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
        self._cache: dict[int, tuple[bool, bool]] = {}

    def _text(self, token_id: int) -> str:
        text = self.tokenizer.decode([token_id])
        piece = self.tokenizer.convert_ids_to_tokens(token_id)
        # SentencePiece decoders drop the leading "▁" of a lone token; keep it as a space
        if isinstance(piece, str) and piece.startswith(_SPACE_MARKERS) and not text[:1].isspace():
            text = " " + text
        return text

    def _edges(self, token_id: int) -> tuple[bool, bool]:
        if token_id not in self._cache:
            text = self._text(token_id)
            self._cache[token_id] = (text[-1:].isalnum(), text[:1].isalnum())
        return self._cache[token_id]

    def lookup(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ends_alnum, starts_alnum)`` boolean tensors shaped like ``ids``."""
        unique, inverse = torch.unique(ids.cpu(), return_inverse=True)
        table = torch.tensor([self._edges(int(i)) for i in unique.tolist()], dtype=torch.bool).reshape(-1, 2)
        out = table[inverse.reshape(-1)].reshape(*ids.shape, 2).to(ids.device)
        return out[..., 0], out[..., 1]


def match_words(
    input_ids: torch.Tensor,
    valid: torch.Tensor,
    vocab: ExpandedVocabulary,
    edges: TokenEdges | None = None,
) -> torch.Tensor:
    """Marks ``[batch, seq, groups]``: True on every token of every match of each word group.

    ``valid`` ``[batch, seq]`` marks the real text tokens (not BOS/EOS/padding); a match must lie
    entirely inside them. ``edges`` enables the word-boundary check (``None``: exact ids only).
    """
    batch, seq = input_ids.shape
    valid = valid.bool()
    marks = torch.zeros(batch, seq, vocab.n_groups, dtype=torch.bool, device=input_ids.device)
    for variant in vocab.variants:
        length = len(variant.ids)
        if length > seq:
            continue
        span = seq - length + 1
        hit = torch.ones(batch, span, dtype=torch.bool, device=input_ids.device)
        for k, token in enumerate(variant.ids):
            hit &= (input_ids[:, k:k + span] == token) & valid[:, k:k + span]
        if edges is not None and bool(hit.any()):
            hit &= _boundary_ok(input_ids, valid, hit, length, variant.leading_space, edges)
        for k in range(length):
            marks[:, k:k + span, variant.group] |= hit
    return marks


def _boundary_ok(
    input_ids: torch.Tensor, valid: torch.Tensor, hit: torch.Tensor, length: int, leading_space: bool,
    edges: TokenEdges,
) -> torch.Tensor:
    """For each candidate start in ``hit``: are both neighbours word boundaries?"""
    batch, seq = input_ids.shape
    span = hit.shape[1]
    ok = torch.ones_like(hit)
    if not leading_space:
        prev_ids = torch.zeros(batch, span, dtype=input_ids.dtype, device=input_ids.device)
        prev_valid = torch.zeros_like(hit)
        prev_ids[:, 1:] = input_ids[:, : span - 1]
        prev_valid[:, 1:] = valid[:, : span - 1]
        ends_alnum, _ = edges.lookup(torch.where(hit, prev_ids, torch.zeros_like(prev_ids)))
        ok &= ~(prev_valid & ends_alnum)
    next_ids = torch.zeros(batch, span, dtype=input_ids.dtype, device=input_ids.device)
    next_valid = torch.zeros_like(hit)
    n_next = seq - length  # starts p with p + length < seq have a next token
    next_ids[:, :n_next] = input_ids[:, length:]
    next_valid[:, :n_next] = valid[:, length:]
    _, starts_alnum = edges.lookup(torch.where(hit, next_ids, torch.zeros_like(next_ids)))
    ok &= ~(next_valid & starts_alnum)
    return ok
