"""The paper's word-ban experiment ([v2] Table 2): reasoning words get logits −inf during thinking only.

A :class:`WordBan` names words (a vocabulary spec: the paper's 10 reasoning words by default, each
with its automatic variants ``w``, ``" w"``, ``W``, ``" W"``). Every variant is tokenized on its own
(:func:`~tl_reasoning.vocab.expand_vocabulary`) and banned with Hugging Face ``bad_words_ids``
semantics: a one-token variant's id is always −inf; for a multi-token variant the *last* token is
−inf when the tokens just before it (prompt included) equal the rest of the variant, so
``"let me"`` = ``Let`` + `` me`` forbids `` me`` right after ``Let`` and nothing else. The ban
applies while the model is choosing thinking tokens (from the first generated token until the row
emits ``</think>``; see :mod:`tl_reasoning.evaluation.logits`); the answer after ``</think>`` is
free. Variants containing ``</think>``, EOS, BOS or padding ids are never banned (the model must
be able to stop). A ban cannot stop a word spelled with other tokens (``w`` + ``ait`` when only
``wait`` is banned) — the same limitation as ``bad_words_ids``.

The control (:func:`random_word_bans`) bans as many words sampled from the thinking-word
distribution ``p_think`` (word frequencies in thinking text, e.g. the baseline's own generations),
without the reasoning words; the paper averages 10 such runs.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from tl_reasoning.evaluation.logits import LogitsFn, LogitsProcessorHandle, add_logits_processor

__all__ = [
    "RandomWordBans",
    "WordBan",
    "add_word_ban",
    "ban_logits_fn",
    "ban_sequences",
    "random_word_bans",
    "thinking_word_distribution",
    "word_ban",
]

_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class WordBan:
    """Words to ban while the model thinks (a vocabulary spec; ``None``: the paper's reasoning words)."""

    words: Any = None
    """Anything :func:`~tl_reasoning.vocab.load_vocabulary` accepts (list of words, mapping, file ...)."""
    positions: str = "thinking"
    """Which chosen tokens the ban applies to (``thinking``, ``generated``, ``all``, ``START:END``)."""
    label: str = "reasoning words"

    @property
    def vocabulary(self) -> Any:
        from tl_reasoning.vocab import load_vocabulary

        return load_vocabulary(self.words)

    def describe(self) -> dict[str, Any]:
        return {"kind": "word_ban", "label": self.label, "words": self.vocabulary.words,
                "positions": str(self.positions)}


@dataclass(frozen=True)
class RandomWordBans:
    """The word-ban control, resolved by the evaluation harness after its baseline has run.

    ``n_runs`` bans of ``n_words`` words each (default: as many as the reasoning word ban of the same
    evaluation, else the paper's 10), sampled from the thinking text of ``texts`` (default: the
    baseline's generations), never one of ``exclude`` (default: the reasoning ban's words) nor a
    word shorter than ``min_length``; results are averaged over the runs.
    """

    n_words: int | None = None
    n_runs: int = 10
    seed: int = 0
    min_length: int = 3
    texts: Sequence[str] | None = None
    exclude: Sequence[str] = field(default_factory=tuple)
    positions: str = "thinking"


def ban_sequences(vocab: Any, tokenizer: Any, protect: Iterable[int] = ()) -> list[tuple[int, ...]]:
    """Token-id sequences of every variant of ``vocab`` (deduplicated), without ``protect`` ids."""
    from tl_reasoning.vocab import expand_vocabulary, load_vocabulary

    expanded = expand_vocabulary(load_vocabulary(vocab), tokenizer)
    protected = {int(i) for i in protect}
    out: list[tuple[int, ...]] = []
    for variant in expanded.variants:
        if variant.ids and not protected.intersection(variant.ids) and variant.ids not in out:
            out.append(variant.ids)
    return out


def ban_logits_fn(sequences: Sequence[Sequence[int]]) -> LogitsFn:
    """A logits function that bans ``sequences`` with ``bad_words_ids`` semantics (module docstring)."""
    singles = sorted({int(s[0]) for s in sequences if len(s) == 1})
    multis = sorted({tuple(int(t) for t in s) for s in sequences if len(s) > 1})
    single_ids = torch.tensor(singles, dtype=torch.long)
    prefixes = [(torch.tensor(s[:-1], dtype=torch.long), s[-1]) for s in multis]

    def fn(logits: torch.Tensor, positions: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        out = logits.clone()
        if single_ids.numel():
            out[..., single_ids.to(out.device)] = float("-inf")
        pos = positions.to(input_ids.device)
        for prefix, last in prefixes:
            length = prefix.numel()
            start = pos - length + 1  # [seq]
            index = (start[:, None] + torch.arange(length, device=pos.device)[None, :]).clamp(min=0)
            window = input_ids[:, index]  # [batch, seq, length]
            hit = (window == prefix.to(input_ids.device)).all(-1) & (start >= 0)[None, :]
            out[..., last] = out[..., last].masked_fill(hit.to(out.device), float("-inf"))
        return out

    return fn


def _protected_ids(backend: Any, think_end: int | str) -> set[int]:
    from tl_reasoning.steering.session import resolve_token_id

    ids = set(backend.special_token_ids)
    try:
        ids.add(resolve_token_id(backend, think_end))
    except ValueError:
        pass  # no single </think> token: nothing to protect
    return ids


def add_word_ban(model: Any, ban: WordBan | Any = None, *, think_end: int | str = "</think>") -> LogitsProcessorHandle:
    """Ban ``ban``'s words (a :class:`WordBan` or a vocabulary spec) on ``model`` until removed."""
    from tl_reasoning.plugins import backend_for

    ban = ban if isinstance(ban, WordBan) else WordBan(ban)
    backend = backend_for(model)
    sequences = ban_sequences(ban.vocabulary, backend.tokenizer, _protected_ids(backend, think_end))
    if not sequences:
        raise ValueError(f"the word ban {ban.label!r} leaves no token sequence to ban with this tokenizer")
    return add_logits_processor(model, ban_logits_fn(sequences), positions=ban.positions, think_end=think_end)


@contextmanager
def word_ban(model: Any, ban: WordBan | Any = None, *, think_end: int | str = "</think>") -> Iterator[LogitsProcessorHandle]:
    """``with word_ban(model):`` — the reasoning words are banned while thinking inside the block."""
    handle = add_word_ban(model, ban, think_end=think_end)
    try:
        yield handle
    finally:
        handle.remove()


def thinking_word_distribution(texts: Iterable[str], think_end: str = "</think>",
                               think_start: str = "<think>") -> Counter[str]:
    """Lower-cased word counts in the thinking part of ``texts``.

    The thinking part is the text after the first ``think_start`` (the whole text without one) and
    before the first ``think_end`` that follows it.
    """
    counts: Counter[str] = Counter()
    for text in texts:
        body = text.split(think_start, 1)[1] if think_start and think_start in text else text
        body = body.split(think_end, 1)[0]
        counts.update(w.lower() for w in _WORD.findall(body))
    return counts


def random_word_bans(
    texts_or_counts: Iterable[str] | Mapping[str, int],
    n_words: int,
    n_runs: int = 10,
    seed: int = 0,
    *,
    exclude: Any = None,
    min_length: int = 3,
    positions: str = "thinking",
) -> list[WordBan]:
    """``n_runs`` bans of ``n_words`` words sampled (without replacement) from ``p_think``.

    :param texts_or_counts: generations (their thinking parts are counted) or word counts.
    :param exclude: words never drawn (a vocabulary spec; default the paper's reasoning words; every
        word of a phrase such as ``let me`` is excluded).
    :param min_length: shorter words are not drawn (one- and two-letter words are sub-word pieces of
        many tokenizers; banning them blocks far more than a word).
    """
    from tl_reasoning.vocab import load_vocabulary

    if n_words < 1 or n_runs < 1:
        raise ValueError(f"n_words and n_runs must be >= 1, got {n_words} and {n_runs}")
    counts = Counter(dict(texts_or_counts)) if isinstance(texts_or_counts, Mapping) else \
        thinking_word_distribution(texts_or_counts)
    excluded = {part.lower() for forms in load_vocabulary(exclude).groups.values() for f in forms
                for part in f.split()}
    words = sorted(w for w, c in counts.items() if c > 0 and len(w) >= min_length and w.lower() not in excluded)
    if len(words) < n_words:
        raise ValueError(f"only {len(words)} eligible words in the thinking text to draw {n_words} random words from; "
                         "give more (or longer) thinking texts or lower n_words")
    weights = np.array([counts[w] for w in words], dtype=np.float64)
    rng = np.random.default_rng(seed)
    bans = []
    for run in range(n_runs):
        picked = rng.choice(len(words), size=n_words, replace=False, p=weights / weights.sum())
        chosen = [words[int(i)] for i in picked]
        bans.append(WordBan(chosen, positions, f"random words {run + 1}"))
    return bans
