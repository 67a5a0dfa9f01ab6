"""Reasoning windows: the official code's bug #10 fixed, edges, overlaps, padding, BOS, documents."""

from __future__ import annotations

import torch

from tl_reasoning.scoring.windows import dilate, token_indicators, valid_tokens
from tl_reasoning.vocab import ExpandedVocabulary, TokenVariant

PHRASE = ExpandedVocabulary(["phrase"], [TokenVariant(0, "x y", (7, 8))])
BOS, PAD = 1, 0


def _official_window_mask(marked: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """The official code's masking (paper.md §1.2 step 6), non-accumulating index_put included."""
    seq = marked.shape[0]
    pos = marked.nonzero().squeeze(1)
    starts = (pos - left).clamp(min=0)
    ends = (pos + right).clamp(max=seq - 1) + 1
    diff = torch.zeros(seq + 1, dtype=torch.long)
    diff[starts] += 1  # duplicate starts collapse to one +1: the bug
    diff.index_put_((ends,), torch.tensor(-1).expand(len(ends)), accumulate=True)
    return diff.cumsum(0)[:seq] > 0


def _row(*pairs: int, length: int = 16) -> torch.Tensor:
    ids = torch.full((1, length), 5)
    for p in pairs:
        ids[0, p], ids[0, p + 1] = 7, 8
    return ids


def _covered(mask: torch.Tensor) -> list[int]:
    return mask.reshape(-1).nonzero().squeeze(1).tolist()


def test_window_bug_10_is_fixed():
    ids = _row(0, 10)
    valid = torch.ones_like(ids, dtype=torch.bool)
    window = token_indicators(ids, valid, PHRASE, (1, 2))[0, :, 1]
    assert _covered(window) == [0, 1, 2, 3, 9, 10, 11, 12, 13]
    marked = (ids[0] == 7) | (ids[0] == 8)
    buggy = _official_window_mask(marked, 1, 2)
    assert _covered(buggy) == [0, 1, 2, 10, 11, 12]  # the official code's coverage (paper.md §1.3 #10)


def test_window_edges_clip_at_sequence_start_and_end():
    ids = _row(0, 14)
    window = token_indicators(ids, torch.ones_like(ids, dtype=torch.bool), PHRASE, (2, 3))[0, :, 1]
    assert _covered(window) == [0, 1, 2, 3, 4, 12, 13, 14, 15]


def test_overlapping_windows_count_each_token_once():
    ids = _row(3, 5)
    ind = token_indicators(ids, torch.ones_like(ids, dtype=torch.bool), PHRASE, (1, 2))
    assert _covered(ind[0, :, 1]) == list(range(2, 9))
    assert ind[0, :, 1].sum() + ind[0, :, 2].sum() == 16  # window and other partition the valid tokens
    assert _covered(ind[0, :, 3]) == [3, 4, 5, 6]  # matched tokens, before widening


def test_bos_and_padding_are_never_counted():
    ids = torch.tensor([[BOS, 7, 8, 5, PAD, PAD], [BOS, 5, 5, 7, 8, PAD]])
    attn = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0]])
    valid = valid_tokens(ids, attn, [BOS, PAD])
    ind = token_indicators(ids, valid, PHRASE, (2, 3))
    assert _covered(ind[0, :, 1]) == [1, 2, 3]  # not BOS (0), not padding (4, 5)
    assert _covered(ind[1, :, 1]) == [1, 2, 3, 4]
    assert not ind[:, 0].any() and not ind[0, 4:].any() and not ind[1, 5].any()


def test_windows_never_cross_documents():
    ids = torch.tensor([[5, 5, 5, 7, 8], [5, 5, 5, 5, 5]])
    ind = token_indicators(ids, torch.ones_like(ids, dtype=torch.bool), PHRASE, (1, 3))
    assert _covered(ind[0, :, 1]) == [2, 3, 4] and not ind[1, :, 1].any()


def test_match_must_lie_inside_valid_tokens():
    ids = torch.tensor([[5, 7, 8]])
    valid = torch.tensor([[True, True, False]])  # the phrase's second token is padding
    assert not token_indicators(ids, valid, PHRASE, (1, 1))[..., 1].any()


def test_dilate_is_union_of_shifts():
    marks = torch.zeros(1, 8, dtype=torch.bool)
    marks[0, 4] = True
    assert _covered(dilate(marks, 0, 0)) == [4]
    assert _covered(dilate(marks, 3, 1)) == [1, 2, 3, 4, 5]
    assert _covered(dilate(marks, 10, 10)) == list(range(8))
