"""Per-generation metrics (thinking length, reasoning words, finished) and per-problem aggregates.

**Thinking length** (paper): the number of generated tokens before the first ``</think>``; all
generated tokens when the generation never closes its thinking section. BOS/EOS/padding ids are
never counted.

**Reasoning words** are counted in the thinking tokens with :class:`WordCounter`: each token is
decoded to its piece, the pieces are joined, and every case-insensitive occurrence of a
vocabulary word (any of its variants, stripped; internal spaces match any whitespace) counts when
both of its ends lie on a *boundary*: the edge of the thinking text, a neighbouring character that
is not a letter, or an edge between two tokens. So ``wait,`` / `` Wait`` count, ``await`` as one
token does not, and degenerate generations such as ``Let meLet meLet me`` (tokens ``Let`` ``
me`` ``Let`` ...) count three times, as exact token-id matching would. The **word rate** is
words per 100 thinking tokens.

**Finished** (:attr:`GenerationMetrics.finished`): the generation closed its thinking section
(``</think>``) or emitted EOS. The evaluation's stricter protocol column (closed its thinking *and*
gave a parseable answer) is built on top of it in :mod:`tl_reasoning.evaluation.harness`.

**Repetition rate** (:func:`repetition_rate`, ``n = 4``): over the thinking token ids
``t_0 … t_{L-1}`` (as for the thinking length), the share of the ``L − n + 1`` token n-grams
``(t_i, …, t_{i+n-1})`` that equal an n-gram starting earlier in the same sequence; 0 when
``L < n + 1``. A text that never repeats 4 tokens in a row scores 0, ``Wait Wait Wait …`` (one token
repeated ``L`` times) scores ``(L − n) / (L − n + 1)`` → 1, and a 4-token cycle repeated ``k`` times
scores ``(4k − 7) / (4k − 3)`` (its 4 distinct n-grams are new once, every other one is a repeat).
It is measured on every generation, finished or not: running on to the token cap is where
degeneration shows.

Aggregates are taken per problem first (mean over samples and runs), then over problems, so every
problem weighs the same and paired bootstraps resample problems: accuracy (pass@1 as the mean
correctness of single samples), maj@k (majority vote over the k samples of a problem; unparseable
answers do not vote; ties go to the answer seen first), mean thinking length, mean word rate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "GenerationMetrics",
    "WordCounter",
    "generation_metrics",
    "maj_at_k",
    "majority_vote",
    "per_problem",
    "repetition_rate",
    "thinking_ids",
]

#: n of the n-gram repetition rate.
REPETITION_N = 4


class WordCounter:
    """Counts the words of a reasoning vocabulary in token ids or text (rule in the module docstring)."""

    def __init__(self, tokenizer: Any = None, vocab: Any = None) -> None:
        from tl_reasoning.vocab import load_vocabulary

        vocabulary = load_vocabulary(vocab)
        self.tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
        self.words: list[str] = vocabulary.words
        self._patterns: list[re.Pattern[str]] = []
        for forms in vocabulary.groups.values():
            strings = sorted({" ".join(f.split()).lower() for f in forms if f.strip()}, key=len, reverse=True)
            body = "|".join(r"\s+".join(re.escape(part) for part in s.split(" ")) for s in strings)
            self._patterns.append(re.compile(f"(?=({body}))", re.IGNORECASE))  # every start, overlaps too
        self._pieces: dict[int, str] = {}

    def piece(self, token_id: int) -> str:
        """The decoded text of one token (cached)."""
        if token_id not in self._pieces:
            if self.tokenizer is None:
                raise ValueError("counting words in token ids needs a tokenizer; pass WordCounter(tokenizer)")
            self._pieces[token_id] = self.tokenizer.decode([token_id])
        return self._pieces[token_id]

    def count_ids(self, ids: Iterable[int]) -> dict[str, int]:
        """``{word: occurrences}`` in the text of the token ``ids``, token edges counting as boundaries."""
        pieces = [self.piece(int(i)) for i in ids]
        edges: set[int] = set()
        offset = 0
        for piece in pieces:
            edges.add(offset)
            offset += len(piece)
        edges.add(offset)
        return self.count_text("".join(pieces), edges)

    def count_text(self, text: str, token_edges: Iterable[int] = ()) -> dict[str, int]:
        """``{word: occurrences}`` in ``text``; ``token_edges`` are character offsets between tokens."""
        edges = set(token_edges)

        def boundary(i: int) -> bool:
            return (i <= 0 or i >= len(text) or not text[i - 1].isalpha() or not text[i].isalpha()
                    or i in edges)

        counts: dict[str, int] = {}
        for word, pattern in zip(self.words, self._patterns, strict=True):
            counts[word] = sum(1 for m in pattern.finditer(text) if boundary(m.start(1)) and boundary(m.end(1)))
        return counts


def thinking_ids(tokens: Sequence[int], think_end_id: int | None, skip: Iterable[int] = ()) -> tuple[list[int], bool]:
    """``(thinking token ids, closed)``: the ids before the first ``think_end_id`` (all if absent).

    Ids in ``skip`` (BOS/EOS/padding) are dropped.
    """
    skipped = set(skip)
    closed = think_end_id is not None and think_end_id in tokens
    body = tokens[: list(tokens).index(think_end_id)] if closed else tokens
    return [int(t) for t in body if int(t) not in skipped], closed


@dataclass(frozen=True)
class GenerationMetrics:
    """Metrics of one generation (see the module docstring)."""

    thinking_tokens: int
    think_closed: bool
    eos: bool
    reasoning_words: int
    word_rate: float
    """Reasoning words per 100 thinking tokens (0 when there are no thinking tokens)."""
    word_counts: Mapping[str, int] = field(default_factory=dict)
    repetition: float = 0.0
    """Repetition rate of the thinking tokens (:func:`repetition_rate`)."""

    @property
    def finished(self) -> bool:
        return self.think_closed or self.eos


def generation_metrics(tokens: Sequence[int], counter: WordCounter, *, think_end_id: int | None,
                       eos_id: int | None = None, skip: Iterable[int] = ()) -> GenerationMetrics:
    """Thinking length, reasoning words and rate, finished flags of one generation's new ``tokens``."""
    body, closed = thinking_ids(tokens, think_end_id, skip)
    counts = counter.count_ids(body)
    words = sum(counts.values())
    rate = 100.0 * words / len(body) if body else 0.0
    eos = eos_id is not None and eos_id in tokens
    return GenerationMetrics(len(body), closed, eos, words, rate, counts, repetition_rate(body))


def repetition_rate(ids: Sequence[int], n: int = REPETITION_N) -> float:
    """Share of the token n-grams of ``ids`` that repeat an earlier n-gram (module docstring).

    ``[a, b, c, d, a, b, c, d]`` with ``n = 4``: n-grams abcd, bcda, cdab, dabc, abcd → 1/5.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    total = len(ids) - n + 1
    if total < 2:
        return 0.0
    seen: set[tuple[int, ...]] = set()
    repeats = 0
    for i in range(total):
        gram = tuple(int(t) for t in ids[i:i + n])
        if gram in seen:
            repeats += 1
        else:
            seen.add(gram)
    return repeats / total


# -- aggregates ---------------------------------------------------------------------------------
def majority_vote(keys: Sequence[str | None]) -> int | None:
    """Index of the sample whose answer wins the vote (``None`` answers do not vote; ties: seen first)."""
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key is None:
            continue
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, i)
    if not counts:
        return None
    best = max(counts.values())
    winner = min((k for k, c in counts.items() if c == best), key=lambda k: first[k])
    return first[winner]


def _problem_order(records: Any) -> list[str]:
    return list(dict.fromkeys(records["item_id"].astype(str)))


def per_problem(records: Any, metric: str) -> Any:
    """Mean of ``metric`` per problem (over samples and runs), as a ``pandas.Series`` indexed by item id."""
    frame = records.assign(item_id=records["item_id"].astype(str))
    values = frame.groupby("item_id", sort=False)[metric].mean()
    return values.reindex(_problem_order(frame)).astype(float)


def maj_at_k(records: Any) -> Any:
    """maj@k per problem (``pandas.Series``): majority vote over a problem's samples, mean over runs.

    ``records`` need ``item_id``, ``sample``, ``answer_key`` and ``correct`` (``run`` optional).
    """
    import pandas as pd

    frame = records.assign(item_id=records["item_id"].astype(str))
    if "run" not in frame.columns:
        frame = frame.assign(run=0)
    rows: dict[str, list[float]] = {}
    for (item, _), group in frame.sort_values("sample", kind="stable").groupby(["item_id", "run"], sort=False):
        keys = [None if (k is None or (isinstance(k, float) and k != k)) else str(k) for k in group["answer_key"]]
        index = majority_vote(keys)
        rows.setdefault(item, []).append(0.0 if index is None else float(bool(group["correct"].iloc[index])))
    series = pd.Series({item: sum(v) / len(v) for item, v in rows.items()}, dtype=float)
    return series.reindex(_problem_order(frame))
