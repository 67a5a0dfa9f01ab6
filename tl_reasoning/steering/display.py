"""Text display for steering comparisons: reasoning words marked, baseline and steered side by side."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from importlib import import_module
from itertools import zip_longest

__all__ = ["REASONING_WORDS", "count_words", "mark_words", "reasoning_words", "side_by_side"]

#: The paper's reasoning vocabulary ([v2] Fig. 5), the fallback when ``tl_reasoning.vocab`` is unavailable.
REASONING_WORDS: tuple[str, ...] = ("alternatively", "hmm", "maybe", "wait", "perhaps", "let me", "therefore",
                                    "however", "but", "another")


def reasoning_words() -> list[str]:
    """The default reasoning vocabulary: ``tl_reasoning.vocab.DEFAULT_WORDS``, else :data:`REASONING_WORDS`."""
    try:
        words = import_module("tl_reasoning.vocab").DEFAULT_WORDS
    except (ImportError, AttributeError):
        return list(REASONING_WORDS)
    return [str(w) for w in words]


def _pattern(words: Sequence[str]) -> re.Pattern[str]:
    alternatives = sorted({w.strip() for w in words if w.strip()}, key=len, reverse=True)
    body = "|".join(r"\s+".join(map(re.escape, w.split())) for w in alternatives)
    return re.compile(rf"\b({body})\b", re.IGNORECASE)


def mark_words(text: str, words: Sequence[str], left: str = "[", right: str = "]") -> str:
    """``text`` with every whole-word, case-insensitive occurrence of ``words`` wrapped in ``left``/``right``."""
    if not words:
        return text
    return _pattern(words).sub(lambda m: f"{left}{m.group(0)}{right}", text)


def count_words(text: str, words: Sequence[str]) -> int:
    """Number of whole-word, case-insensitive occurrences of ``words`` in ``text``."""
    return len(_pattern(words).findall(text)) if words else 0


def side_by_side(left: str, right: str, width: int = 100, titles: tuple[str, str] = ("baseline", "steered")) -> str:
    """Two texts in two wrapped columns of ``width`` characters in total."""
    col = max(20, (width - 3) // 2)

    def lines(text: str) -> list[str]:
        out: list[str] = []
        for paragraph in text.splitlines() or [""]:
            out.extend(textwrap.wrap(paragraph, col) or [""])
        return out

    rows = [f"{titles[0]:<{col}} | {titles[1]}", f"{'-' * col}-+-{'-' * col}"]
    rows += [f"{a:<{col}} | {b}".rstrip() for a, b in zip_longest(lines(left), lines(right), fillvalue="")]
    return "\n".join(rows)
