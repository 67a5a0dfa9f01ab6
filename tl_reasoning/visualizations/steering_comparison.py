"""Baseline vs steered generations side by side, reasoning words and steered positions highlighted."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tl_reasoning.views import View, esc

__all__ = ["steering_comparison"]

_WORDISH = re.compile(r"\s+|\w+|[^\w\s]")


def _tokens(text: str | Sequence[str]) -> list[str]:
    return _WORDISH.findall(text) if isinstance(text, str) else [str(t) for t in text]


def _marked(tokens: list[str], words: Sequence[str]) -> list[bool]:
    """Which tokens overlap a whole-word, case-insensitive match of ``words`` in the joined text."""
    from tl_reasoning.steering.display import _pattern

    if not words:
        return [False] * len(tokens)
    spans = [m.span() for m in _pattern(words).finditer("".join(tokens))]
    out, start = [], 0
    for tok in tokens:
        end = start + len(tok)
        out.append(any(a < end and start < b for a, b in spans) and bool(tok.strip()))
        start = end
    return out


def _column(title: str, tokens: list[str], words: Sequence[str], steered: Sequence[bool] | None) -> tuple[str, int]:
    marks = _marked(tokens, words)
    spans = []
    for i, (tok, mark) in enumerate(zip(tokens, marks, strict=True)):
        cls = [c for c, on in (("tlr-word", mark), ("tlr-steered", bool(steered and steered[i]))) if on]
        spans.append(f"<span class='{' '.join(cls)}'>{esc(tok)}</span>" if cls else esc(tok))
    from tl_reasoning.steering.display import count_words

    n = count_words("".join(tokens), words)
    return f"<div><b>{esc(title)}</b> <span class='tlr-meta'>({n} reasoning words)</span>" \
           f"<div class='tlr-text'>{''.join(spans)}</div></div>", n


def steering_comparison(
    baseline: str | Sequence[str],
    steered: str | Sequence[str],
    *,
    words: Sequence[str] | None = None,
    steered_positions: Sequence[bool] | None = None,
    prompt: str | None = None,
    title: str = "Steering comparison",
) -> View:
    """Two columns: ``baseline`` and ``steered`` output (texts, or lists of token strings).

    Words of the reasoning vocabulary (``words``; the paper's 10 by default) are highlighted in both;
    ``steered_positions`` (one flag per token of ``steered``) underlines the tokens generated while
    the edit was active. Everything is escaped text.
    """
    from tl_reasoning.steering.display import reasoning_words

    vocab = list(words) if words is not None else reasoning_words()
    base_tokens, steer_tokens = _tokens(baseline), _tokens(steered)
    if steered_positions is not None and len(steered_positions) != len(steer_tokens):
        raise ValueError(f"steered_positions has {len(steered_positions)} flags for {len(steer_tokens)} steered tokens")
    left, n_base = _column("baseline", base_tokens, vocab, None)
    right, n_steer = _column("steered", steer_tokens, vocab, steered_positions)
    head = f"<p class='tlr-meta'>prompt: <span class='tlr-text'>{esc(prompt)}</span></p>" if prompt else ""
    return View([head, f"<div class='tlr-cols'>{left}{right}</div>"], title,
                {"baseline_words": n_base, "steered_words": n_steer})
