"""Reasoning vocabularies: the paper's words, user vocabularies, token-id expansion, matching, mining."""

from tl_reasoning.vocab.expand import ExpandedVocabulary, TokenVariant, expand_vocabulary
from tl_reasoning.vocab.matching import TokenEdges, match_words
from tl_reasoning.vocab.mining import count_ngrams, mine_vocabulary, save_mined_vocabulary
from tl_reasoning.vocab.vocabulary import DEFAULT_WORDS, Vocabulary, load_vocabulary, word_variants

__all__ = [
    "DEFAULT_WORDS",
    "ExpandedVocabulary",
    "TokenEdges",
    "TokenVariant",
    "Vocabulary",
    "count_ngrams",
    "expand_vocabulary",
    "load_vocabulary",
    "match_words",
    "mine_vocabulary",
    "save_mined_vocabulary",
    "word_variants",
]
