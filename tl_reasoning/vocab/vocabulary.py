"""A reasoning vocabulary: word groups, each with the surface variants that count as that word.

The paper's vocabulary R has 10 words (Fig. 5). Each word becomes one *group*; a group's variants
are the strings matched in text. Words given by the user get the automatic variants ``w``, ``" w"``,
``W`` (capitalised) and ``" W"``, unlike the official code's hand-listed 34 strings, which missed
``" But"`` and ``" Another"``. A mapping ``{group: [variants]}`` is taken verbatim.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_WORDS", "Vocabulary", "load_vocabulary", "word_variants"]

#: The paper's reasoning vocabulary R ([v2] Fig. 5).
DEFAULT_WORDS: tuple[str, ...] = (
    "alternatively", "hmm", "maybe", "wait", "perhaps", "let me", "therefore", "however", "but", "another",
)


def word_variants(word: str) -> list[str]:
    """``w``, ``" w"``, ``W`` and ``" W"`` for ``word`` (capitalising its first letter), deduplicated."""
    base = word.strip()
    if not base:
        raise ValueError("a vocabulary word is empty or only whitespace")
    cap = base[:1].upper() + base[1:]
    out: list[str] = []
    for variant in (base, " " + base, cap, " " + cap):
        if variant not in out:
            out.append(variant)
    return out


def _group_name(word: str) -> str:
    return " ".join(word.split()).lower()


@dataclass
class Vocabulary:
    """Word groups in order, each with the exact strings (variants) that count as that word."""

    groups: dict[str, list[str]]

    def __post_init__(self) -> None:
        if not self.groups:
            raise ValueError("a vocabulary needs at least one word group")
        for name, variants in self.groups.items():
            if not variants or not all(isinstance(v, str) and v.strip() for v in variants):
                raise ValueError(f"vocabulary group {name!r} needs at least one non-empty variant string")

    @property
    def words(self) -> list[str]:
        """Group names, in order (the word groups of the entropy term)."""
        return list(self.groups)

    @classmethod
    def from_words(cls, words: Iterable[str], variants: bool = True) -> Vocabulary:
        """One group per word (lower-cased, whitespace-normalised), with automatic variants.

        Words that normalise to the same group are merged.
        """
        groups: dict[str, list[str]] = {}
        for word in words:
            forms = word_variants(word) if variants else [word]
            bucket = groups.setdefault(_group_name(word), [])
            bucket.extend(f for f in forms if f not in bucket)
        return cls(groups)

    @classmethod
    def default(cls) -> Vocabulary:
        """The paper's 10 words with their 4 automatic variants each."""
        return cls.from_words(DEFAULT_WORDS)

    def to_json(self) -> dict[str, list[str]]:
        return {name: list(v) for name, v in self.groups.items()}


VocabSpec = Vocabulary | Mapping[str, Sequence[str]] | Sequence[str] | str | os.PathLike | None


def load_vocabulary(spec: Any = None) -> Vocabulary:
    """A :class:`Vocabulary` from any accepted form.

    ``None``: the paper's default. A ``Vocabulary``: itself. A mapping: ``{group: [variants]}``
    verbatim. A list of words: one group each with automatic variants. A string: an existing file
    (one word per line, ``#`` comments allowed; a ``.json`` list of words, of ``{"word": ...}``
    records as written by ``vocab mine``, or a ``{group: [variants]}`` object; a ``.csv`` with a
    ``word`` column) or else comma-separated words ``"wait,hmm,let me"``.
    """
    if spec is None:
        return Vocabulary.default()
    if isinstance(spec, Vocabulary):
        return spec
    if isinstance(spec, Mapping):
        return Vocabulary({str(k): [str(v) for v in vs] for k, vs in spec.items()})
    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and _looks_like_file(spec)):
        return _load_file(Path(spec))
    if isinstance(spec, str):
        words = [w for w in (p.strip() for p in spec.split(",")) if w]
        if not words:
            raise ValueError(f"--vocab {spec!r} names no words; pass comma-separated words or a file")
        return Vocabulary.from_words(words)
    return Vocabulary.from_words(list(spec))


def _looks_like_file(spec: str) -> bool:
    path = Path(spec).expanduser()
    if path.is_file():
        return True
    if path.suffix in (".json", ".txt", ".csv") and "," not in spec:
        raise FileNotFoundError(f"vocabulary file {spec} does not exist")
    return False


def _truthy(value: Any) -> bool:
    """A ``selected`` flag from a mined-vocabulary file (bool in JSON, text in CSV)."""
    return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes")


def _load_file(path: Path) -> Vocabulary:
    path = path.expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"vocabulary file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"vocabulary file {path} is not valid JSON ({exc.msg})") from None
        if isinstance(data, dict):
            return load_vocabulary(data)
        if isinstance(data, list) and all(isinstance(d, str) for d in data):
            return Vocabulary.from_words(data)
        if isinstance(data, list) and all(isinstance(d, dict) and "word" in d for d in data):
            return Vocabulary.from_words([d["word"] for d in data if _truthy(d.get("selected", True))])
        raise ValueError(f"vocabulary file {path}: expected a list of words, a list of {{'word': ...}} "
                         "records or a {group: [variants]} object")
    if path.suffix == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        if not rows or "word" not in rows[0]:
            raise ValueError(f"vocabulary file {path}: a CSV vocabulary needs a 'word' column")
        return Vocabulary.from_words([r["word"] for r in rows
                                      if r["word"].strip() and _truthy(r.get("selected", True))])
    words = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not words:
        raise ValueError(f"vocabulary file {path} lists no words")
    return Vocabulary.from_words(words)
