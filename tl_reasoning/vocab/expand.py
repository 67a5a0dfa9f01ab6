"""Expansion of a :class:`Vocabulary` into tokenizer-specific token-id sequences.

Every variant string is tokenized on its own (no special tokens), as the official code does, so
``" wait"`` and ``"Wait"`` become the id sequences a byte-level BPE produces for them. Identical id
sequences within a group are kept once. The expansion is stored with the statistics so a later
reader knows exactly which ids were counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tl_reasoning.vocab.vocabulary import Vocabulary, load_vocabulary

__all__ = ["ExpandedVocabulary", "TokenVariant", "expand_vocabulary"]


@dataclass(frozen=True)
class TokenVariant:
    """One matchable token-id sequence of a word group."""

    group: int
    """Index of the word group."""
    text: str
    """The variant string it came from."""
    ids: tuple[int, ...]
    """Token ids matched contiguously."""

    @property
    def leading_space(self) -> bool:
        """Whether the variant carries its own word boundary on the left (``" wait"``)."""
        return self.text[:1].isspace()


@dataclass
class ExpandedVocabulary:
    """Word groups and their token-id variants for one tokenizer."""

    words: list[str]
    variants: list[TokenVariant]

    def __post_init__(self) -> None:
        missing = [w for g, w in enumerate(self.words) if not any(v.group == g for v in self.variants)]
        if missing:
            raise ValueError(f"vocabulary words {missing} tokenize to nothing with this tokenizer; drop them")

    @property
    def n_groups(self) -> int:
        return len(self.words)

    def for_group(self, group: int) -> list[TokenVariant]:
        return [v for v in self.variants if v.group == group]

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        """``{word: [{"text": ..., "ids": [...]}, ...]}``, stored in statistics metadata."""
        return {w: [{"text": v.text, "ids": list(v.ids)} for v in self.for_group(g)] for g, w in enumerate(self.words)}

    @classmethod
    def from_json(cls, data: dict[str, list[dict[str, Any]]]) -> ExpandedVocabulary:
        words = list(data)
        variants = [TokenVariant(g, v["text"], tuple(int(i) for i in v["ids"]))
                    for g, w in enumerate(words) for v in data[w]]
        return cls(words, variants)


def expand_vocabulary(vocab: Any, tokenizer: Any) -> ExpandedVocabulary:
    """Tokenize every variant of ``vocab`` (any form :func:`load_vocabulary` accepts) with ``tokenizer``.

    ``tokenizer`` is a Hugging Face tokenizer (``backend.tokenizer``) or a backend.
    """
    vocab = load_vocabulary(vocab) if not isinstance(vocab, Vocabulary) else vocab
    tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
    variants: list[TokenVariant] = []
    for group, (_, forms) in enumerate(vocab.groups.items()):
        seen: set[tuple[int, ...]] = set()
        for text in forms:
            ids = tuple(int(i) for i in tokenizer(text, add_special_tokens=False)["input_ids"])
            if ids and ids not in seen:
                seen.add(ids)
                variants.append(TokenVariant(group, text, ids))
    return ExpandedVocabulary(vocab.words, variants)
