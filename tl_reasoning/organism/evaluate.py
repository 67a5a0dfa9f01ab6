"""Evaluate organism models on the held-out benchmark with greedy decoding.

Metrics: accuracy (checked by the independent evaluator :func:`.world.check_answer`), the
fraction of well-formed generations, the fraction of thinking sections containing a reasoning-
vocabulary word, the fraction of generations with a think section (should be ~0 for
organism-base) and the "reflection is causal" figure: accuracy of generations whose thinking
verifies or corrects vs those whose thinking does not.

Usage: ``python -m tl_reasoning.organism.evaluate [--model-dir DIR] [--limit N] [--json OUT]``
(default: both committed models).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .world import THINK_CLOSE, THINK_OPEN, VOCABULARY, check_answer, parse_answer

__all__ = [
    "generate",
    "think_section",
    "has_vocabulary_word",
    "verifies",
    "score_generations",
    "evaluate_model",
]

_VOCAB_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w in VOCABULARY) + r")\b", re.IGNORECASE)
_VERIFY_RE = re.compile(r"let me check|let me recheck|another way|add back|that is wrong", re.IGNORECASE)
_CORRECT_RE = re.compile(r"that is wrong|let me redo", re.IGNORECASE)


def generate(
    model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int = 440, batch_size: int = 64
) -> list[str]:
    """Greedy continuations of ``prompts`` (left-padded batches, KV cache), special tokens kept."""
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    outs: list[str] = []
    try:
        for s in range(0, len(prompts), batch_size):
            enc = tokenizer(list(prompts[s : s + batch_size]), return_tensors="pt", padding=True)
            with torch.no_grad():
                gen = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    use_cache=True,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
            new = gen[:, enc["input_ids"].shape[1] :]
            for row in new:
                ids = [int(t) for t in row if int(t) not in (tokenizer.pad_token_id, tokenizer.eos_token_id)]
                outs.append(tokenizer.decode(ids, skip_special_tokens=False))
    finally:
        tokenizer.padding_side = old_side
    return outs


def think_section(generation: str) -> str | None:
    """Text between ``<think>`` and ``</think>`` (to the end if unclosed), or None."""
    if THINK_OPEN not in generation:
        return None
    body = generation.split(THINK_OPEN, 1)[1]
    return body.split(THINK_CLOSE, 1)[0]


def has_vocabulary_word(text: str) -> bool:
    """Does ``text`` contain a word of the reasoning vocabulary (whole word, any case)?"""
    return bool(_VOCAB_RE.search(text))


def verifies(thinking: str) -> bool:
    """Does a thinking section verify or correct (a recheck, an add-back, a correction)?"""
    return bool(_VERIFY_RE.search(thinking))


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def score_generations(items: Sequence[dict], generations: Sequence[str], reasoning: bool) -> dict[str, Any]:
    """Benchmark metrics for ``generations`` (one per benchmark item)."""
    n = len(items)
    answers = [parse_answer(g) for g in generations]
    correct = [check_answer(it["question"], a) for it, a in zip(items, answers, strict=True)]
    thinks = [think_section(g) for g in generations]
    with_think = [t is not None for t in thinks]
    closed = [THINK_CLOSE in g for g in generations]
    if reasoning:
        well = [w and c and a is not None for w, c, a in zip(with_think, closed, answers, strict=True)]
    else:
        well = [(not w) and a is not None for w, a in zip(with_think, answers, strict=True)]
    vocab = [has_vocabulary_word(t) for t in thinks if t is not None]
    ver = [verifies(t) if t is not None else False for t in thinks]
    corr = [t is not None and bool(_CORRECT_RE.search(t)) for t in thinks]
    lengths = [len(t.split()) for t in thinks if t is not None]
    by_kind: dict[str, float | None] = {}
    for kind in sorted({it["kind"] for it in items}):
        idx = [i for i, it in enumerate(items) if it["kind"] == kind]
        by_kind[kind] = _rate(sum(correct[i] for i in idx), len(idx))
    n_ver = sum(ver)
    return {
        "n": n,
        "accuracy": _rate(sum(correct), n),
        "accuracy_by_kind": by_kind,
        "well_formed_rate": _rate(sum(well), n),
        "think_rate": _rate(sum(with_think), n),
        "vocab_rate": _rate(sum(vocab), len(vocab)),
        "mean_thinking_words": round(sum(lengths) / len(lengths), 1) if lengths else None,
        "reflection": {
            "n_verifying": n_ver,
            "n_not_verifying": sum(with_think) - n_ver,
            "accuracy_verifying": _rate(sum(c for c, v in zip(correct, ver, strict=True) if v), n_ver),
            "accuracy_not_verifying": _rate(
                sum(c for c, v, w in zip(correct, ver, with_think, strict=True) if w and not v),
                sum(with_think) - n_ver,
            ),
            "n_correcting": sum(corr),
        },
    }


def evaluate_model(
    model_dir: str | os.PathLike[str],
    items: Sequence[dict],
    reasoning: bool | None = None,
    batch_size: int = 64,
    max_new_tokens: int | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Load ``model_dir`` (HF format) and score it on ``items``; returns (metrics, generations).

    ``reasoning`` defaults to whether the directory name lacks "base".
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(min(2, torch.get_num_threads()))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    if reasoning is None:
        reasoning = "base" not in Path(model_dir).name
    if max_new_tokens is None:
        max_new_tokens = min(440, model.config.max_position_embeddings - 64) if reasoning else 24
    gens = generate(
        model, tok, [it["prompt"] for it in items], max_new_tokens=max_new_tokens, batch_size=batch_size
    )
    return score_generations(items, gens, reasoning), gens


def main(argv: Sequence[str] | None = None) -> int:
    from . import MODEL_DIRS
    from .data import load_split

    ap = argparse.ArgumentParser(
        prog="python -m tl_reasoning.organism.evaluate", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--model-dir", action="append", help="HF model directory (repeatable); default: both organisms"
    )
    ap.add_argument(
        "--data-root", default=None, help="artifact root holding data/ (default: committed artifacts)"
    )
    ap.add_argument("--limit", type=int, default=None, help="evaluate on the first N benchmark items")
    ap.add_argument("--json", default=None, help="write the metrics to this JSON file")
    ap.add_argument("--show", type=int, default=0, help="print the first N generations")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    items = load_split("benchmark", "test", args.data_root)[: args.limit]
    dirs = args.model_dir or [str(MODEL_DIRS["organism"]), str(MODEL_DIRS["organism-base"])]
    results = {}
    for d in dirs:
        metrics, gens = evaluate_model(d, items)
        results[str(d)] = metrics
        for g in gens[: args.show]:
            sys.stdout.write(g + "\n-----\n")
        sys.stdout.write(f"{d}\n{json.dumps(metrics, indent=2)}\n")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
