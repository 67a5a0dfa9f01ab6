"""The organism's tokenizer: a small byte-level BPE trained locally on the world's corpora.

Digits are pre-tokenized individually (so "347" is always "3", "4", "7" and column arithmetic is
learnable), ``<think>``/``</think>`` are single added tokens, and a template post-processor
prepends exactly one ``<s>`` (TransformerLens detects this and does not add a second one).
The tokenizer is saved in Hugging Face format and must be reloaded from disk before use with
TransformerLens (an in-memory tokenizer raises ``KeyError: 'name_or_path'`` there).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .world import THINK_CLOSE, THINK_OPEN

__all__ = ["SPECIAL_TOKENS", "train_tokenizer", "load_tokenizer"]

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>")


def train_tokenizer(texts: Iterable[str], out_dir: str | os.PathLike[str], vocab_size: int = 512) -> Any:
    """Train a BPE on ``texts``, save it to ``out_dir`` and return it reloaded from disk."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    # Normal (non-special) added tokens: matched before pre-tokenization, kept when decoding.
    bpe.add_tokens([AddedToken(THINK_OPEN, normalized=False), AddedToken(THINK_CLOSE, normalized=False)])
    bos = bpe.token_to_id("<s>")
    bpe.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>", model_max_length=512
    )
    tok.save_pretrained(str(out_dir))
    return load_tokenizer(out_dir)


def load_tokenizer(path: str | os.PathLike[str]) -> Any:
    """Reload a saved organism tokenizer (``AutoTokenizer``, offline)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(Path(path)))
