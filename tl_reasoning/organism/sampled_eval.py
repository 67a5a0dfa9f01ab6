"""Sampled evaluation of the organism with per-step ground truth (world v3).

The organism is sampled at the paper's settings (T 0.6, top-p 0.95) on the held-out benchmark and
every generation is annotated (:func:`.world_v3.annotate`): which steps were hard, which first
attempts slipped, which were rechecked and which rechecks rescued a slip. These are the numbers
that say whether reflection has headroom (accuracy well below 100 %) and does work (rescues).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from .world import check_answer, parse_answer
from .world_v3 import annotate

__all__ = ["sample", "step_statistics", "sampled_evaluation"]


def sample(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    temperature: float = 0.6,
    top_p: float = 0.95,
    max_new_tokens: int = 320,
    batch_size: int = 100,
    seed: int = 0,
) -> list[str]:
    """Sampled continuations of ``prompts`` (left-padded batches, KV cache), seeded per batch."""
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    outs: list[str] = []
    try:
        for b, s in enumerate(range(0, len(prompts), batch_size)):
            enc = tokenizer(list(prompts[s : s + batch_size]), return_tensors="pt", padding=True)
            torch.manual_seed(seed * 100_003 + b)
            with torch.no_grad():
                gen = model.generate(
                    **enc, max_new_tokens=max_new_tokens, do_sample=True, temperature=temperature,
                    top_p=top_p, top_k=0, use_cache=True, pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
            for row in gen[:, enc["input_ids"].shape[1]:]:
                ids = [int(t) for t in row if int(t) not in (tokenizer.pad_token_id, tokenizer.eos_token_id)]
                outs.append(tokenizer.decode(ids, skip_special_tokens=False))
    finally:
        tokenizer.padding_side = old_side
    return outs


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def step_statistics(questions: Sequence[str], traces: Sequence[str]) -> dict[str, Any]:
    """Slip, recheck and rescue rates over the annotated steps of ``traces`` (one per question)."""
    steps = [s for q, t in zip(questions, traces, strict=True) for s in annotate(q, t)]
    hard = [s for s in steps if s.hard]
    easy = [s for s in steps if not s.hard]
    slips = [s for s in steps if s.slip]
    rechecked = [s for s in steps if s.reflected]
    return {
        "n_steps": len(steps),
        "hard_fraction": _rate(len(hard), len(steps)),
        "p_slip_hard": _rate(sum(s.slip for s in hard), len(hard)),
        "p_slip_easy": _rate(sum(s.slip for s in easy), len(easy)),
        "p_recheck_hard": _rate(sum(s.reflected for s in hard), len(hard)),
        "p_recheck_easy": _rate(sum(s.reflected for s in easy), len(easy)),
        "p_hard_given_recheck": _rate(sum(s.hard for s in rechecked), len(rechecked)),
        "n_slips": len(slips),
        "rescue_rate": _rate(sum(s.corrected for s in slips), len(slips)),
        "false_alarm_rate": _rate(sum(s.corrected and not s.slip for s in steps), len(steps) - len(slips)),
    }


def sampled_evaluation(
    model_dir: str | os.PathLike[str],
    items: Sequence[dict],
    *,
    n_samples: int = 2,
    temperature: float = 0.6,
    top_p: float = 0.95,
    seed: int = 0,
    batch_size: int = 100,
) -> tuple[dict[str, Any], list[str]]:
    """Accuracy and step statistics of ``n_samples`` sampled generations per benchmark item."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    rows = [it for it in items for _ in range(n_samples)]
    gens = sample(model, tok, [it["prompt"] for it in rows], temperature=temperature, top_p=top_p,
                  seed=seed, batch_size=batch_size)
    correct = [check_answer(it["question"], parse_answer(g)) for it, g in zip(rows, gens, strict=True)]
    stats = step_statistics([it["question"] for it in rows], gens)
    with_slip = [any(s.slip for s in annotate(it["question"], g)) for it, g in zip(rows, gens, strict=True)]
    return {
        "n": len(rows),
        "temperature": temperature,
        "top_p": top_p,
        "accuracy": _rate(sum(correct), len(rows)),
        "accuracy_without_slip": _rate(sum(c for c, s in zip(correct, with_slip, strict=True) if not s),
                                       sum(not s for s in with_slip)),
        "accuracy_with_slip": _rate(sum(c for c, s in zip(correct, with_slip, strict=True) if s), sum(with_slip)),
        **stats,
    }, gens
