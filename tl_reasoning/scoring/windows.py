"""Reasoning windows and the token indicator matrix the statistic kernel consumes.

Windows follow the official code's semantics with its accumulation bug (paper.md §1.3 #10) fixed:
every token of every match is marked, then each marked position ``p`` covers
``[p − before, p + after]``, clipped to the row. Dilation here is a union of shifted copies of the
marks (exact, no difference array), and each document is its own row, so windows never cross
documents. BOS, EOS and padding are never counted, in or out of windows.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from tl_reasoning.vocab.expand import ExpandedVocabulary
from tl_reasoning.vocab.matching import TokenEdges, match_words

__all__ = ["dilate", "model_context", "token_indicators", "valid_tokens"]


def model_context(model: object) -> int | None:
    """The longest sequence ``model`` (a model or a backend) accepts: ``cfg.n_ctx`` (TransformerLens) or
    ``config.max_position_embeddings`` / ``n_positions`` (Hugging Face, nnsight); ``None`` if unknown."""
    seen: list[object] = []
    todo = [model]
    while todo:
        obj = todo.pop(0)
        if obj is None or any(obj is s for s in seen) or len(seen) > 8:
            continue
        seen.append(obj)
        cfg = getattr(obj, "cfg", None)
        value = getattr(cfg, "n_ctx", None)
        if isinstance(value, int) and value > 0:
            return value
        config = getattr(obj, "config", None)
        for name in ("max_position_embeddings", "n_positions"):
            value = getattr(config, name, None)
            if isinstance(value, int) and value > 0:
                return value
        todo += [getattr(obj, name, None) for name in ("model", "_model", "original_model")]
    return None


def dilate(marks: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """Boolean ``marks`` ``[batch, seq, ...]`` widened by ``before`` / ``after`` positions along ``seq``."""
    if before < 0 or after < 0:
        raise ValueError(f"window sizes must be >= 0, got ({before}, {after})")
    marks = marks.bool()
    out = marks.clone()
    seq = marks.shape[1]
    for shift in range(1, min(after, seq - 1) + 1):
        out[:, shift:] |= marks[:, :-shift]
    for shift in range(1, min(before, seq - 1) + 1):
        out[:, :-shift] |= marks[:, shift:]
    return out


def valid_tokens(input_ids: torch.Tensor, attention_mask: torch.Tensor, special_ids: Iterable[int]) -> torch.Tensor:
    """``[batch, seq]`` True on the tokens statistics count: attended and not BOS/EOS/padding ids."""
    valid = attention_mask.bool().clone()
    for token in special_ids:
        valid &= input_ids != int(token)
    return valid


def token_indicators(
    input_ids: torch.Tensor,
    valid: torch.Tensor,
    vocab: ExpandedVocabulary,
    window: tuple[int, int] = (1, 2),
    edges: TokenEdges | None = None,
) -> torch.Tensor:
    """Boolean indicators ``[batch, seq, W + 3]`` in the kernel's column layout.

    Columns: the window of each of the ``W`` word groups, the union of all windows, the other valid
    tokens, and the matched tokens (every token of a match, before widening). All are restricted to
    ``valid`` tokens. ``edges`` turns on the word-boundary check.
    """
    valid = valid.bool()
    marks = match_words(input_ids, valid, vocab, edges)
    group_windows = dilate(marks, *window) & valid[..., None]
    union = group_windows.any(-1)
    return torch.cat([group_windows, union[..., None], (valid & ~union)[..., None], marks.any(-1)[..., None]], -1)
