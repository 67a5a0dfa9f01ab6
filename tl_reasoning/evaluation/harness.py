"""``evaluate``: generate under several conditions on the same problems and compare them to a baseline.

A *condition* is what is done to the model while it answers:

* ``None`` — nothing (the baseline);
* a :class:`~tl_reasoning.steering.Steering` (see :func:`~tl_reasoning.steering.feature_steering`)
  or a list of them — installed for the condition's generations;
* a :class:`~tl_reasoning.evaluation.wordban.WordBan` — words banned while thinking (may be mixed
  with steerings in a list);
* :class:`Averaged` — several alternatives evaluated once each (*runs*) and averaged per problem
  (random-feature controls, the random word-ban runs);
* :class:`~tl_reasoning.evaluation.wordban.RandomWordBans` — the word-ban control, drawn from the
  baseline's thinking text once the baseline has run.

Every condition sees the same prompts in the same batches with the same per-batch seeds (common
random numbers), so sampled runs differ only by the intervention. Generation goes through
:func:`tl_reasoning.steering.generate` in batches of ``batch_size`` (problem × sample) rows.
:func:`steering_conditions` builds features × strengths sweeps and :func:`random_feature_conditions`
the frequency-matched random-feature controls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from tl_reasoning.evaluation.answers import THINK_END, answer_key, grade
from tl_reasoning.evaluation.benchmarks import EvalItem, load_eval_benchmark
from tl_reasoning.evaluation.controls import MatchedFeature
from tl_reasoning.evaluation.criteria import Criteria, criteria_text
from tl_reasoning.evaluation.metrics import WordCounter, generation_metrics
from tl_reasoning.evaluation.progress import EvalProgress, stderr_progress
from tl_reasoning.evaluation.prompting import build_prompts
from tl_reasoning.evaluation.results import EvaluationResult, summarize
from tl_reasoning.evaluation.wordban import RandomWordBans, WordBan, add_word_ban, random_word_bans

__all__ = [
    "Averaged",
    "EvalProgress",
    "condition_info",
    "evaluate",
    "random_feature_conditions",
    "steering_conditions",
    "stderr_progress",
]


@dataclass(frozen=True)
class Averaged:
    """Alternatives evaluated once each (runs) and averaged per problem; ``info`` describes the group."""

    runs: Sequence[Any]
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError("Averaged needs at least one run")


# -- conditions ---------------------------------------------------------------------------------
def _is_steering(value: Any) -> bool:
    from tl_reasoning.steering import Steering

    return isinstance(value, Steering)


def _parts(value: Any) -> list[Any]:
    """The steerings / word bans of one run (``None``: none)."""
    if value is None:
        return []
    if _is_steering(value) or isinstance(value, WordBan):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, str):
        parts = list(value)
        bad = [type(p).__name__ for p in parts if not (_is_steering(p) or isinstance(p, WordBan))]
        if bad:
            raise TypeError(f"a list condition holds Steering and WordBan objects only, got {', '.join(bad)}")
        return parts
    raise TypeError(f"unsupported condition {type(value).__name__}: use None, a Steering, a WordBan, a list of "
                    "those, Averaged([...]) or RandomWordBans(...)")


def _steering_info(steering: Any) -> dict[str, Any]:
    info = dict(steering.info)
    feats = info.get("features") or []
    strength = info.get("strength")
    if isinstance(strength, list) and strength and all(s == strength[0] for s in strength) \
            and not isinstance(strength[0], list):
        strength = strength[0]
    return {"kind": info.get("kind", "steering"), "feature": feats[0] if len(feats) == 1 else "+".join(map(str, feats)),
            "features": feats, "strength": strength, "mode": info.get("mode"), "positions": info.get("positions"),
            "f_max": info.get("f_max"), "site": steering.site}


def condition_info(value: Any) -> dict[str, Any]:
    """A JSON-friendly description of a condition (kind, feature, strength, words ...)."""
    if value is None:
        return {"kind": "baseline"}
    if isinstance(value, RandomWordBans):
        return {"kind": "random_word_ban", "n_words": value.n_words, "n_runs": value.n_runs, "seed": value.seed}
    if isinstance(value, Averaged):
        info = {"kind": "averaged", "runs": [condition_info(r) for r in value.runs]}
        info.update(dict(value.info))
        return info
    parts = _parts(value)
    if len(parts) == 1:
        return _steering_info(parts[0]) if _is_steering(parts[0]) else parts[0].describe()
    return {"kind": "combined", "parts": [_steering_info(p) if _is_steering(p) else p.describe() for p in parts]}


def steering_conditions(
    sae: Any,
    features: int | Sequence[int],
    strengths: float | Sequence[float],
    *,
    mode: str = "add",
    f_max: float | Sequence[float] | None = None,
    stats: Any = None,
    positions: Any = "all",
    name: str = "#{feature} γ={strength:g}",
    **options: Any,
) -> dict[str, Any]:
    """One condition per feature × strength (each feature steered alone), named by ``name``.

    ``f_max``: one value, or one per feature in ``features`` order; else taken from ``stats``.
    Other options go to :func:`~tl_reasoning.steering.feature_steering`.
    """
    from tl_reasoning.steering import feature_steering

    feats = [int(features)] if isinstance(features, int) else [int(f) for f in features]
    values = [float(strengths)] if isinstance(strengths, int | float) else [float(s) for s in strengths]
    if not feats or not values:
        raise ValueError("steering_conditions needs at least one feature and one strength")
    per_feature = list(f_max) if isinstance(f_max, Sequence) else [f_max] * len(feats)
    if len(per_feature) != len(feats):
        raise ValueError(f"f_max has {len(per_feature)} values for {len(feats)} features")
    out: dict[str, Any] = {}
    for feature, fm in zip(feats, per_feature, strict=True):
        for strength in values:
            key = name.format(feature=feature, strength=strength, mode=mode)
            out[key] = feature_steering(sae, [feature], strength=strength, mode=mode, f_max=fm, stats=stats,
                                        positions=positions, **options)
    return out


def random_feature_conditions(
    sae: Any,
    matches: Sequence[MatchedFeature],
    strengths: float | Sequence[float],
    *,
    mode: str = "add",
    positions: Any = "all",
    name: str = "random~#{feature} γ={strength:g}",
    **options: Any,
) -> dict[str, Averaged]:
    """Frequency- and push-matched random-feature controls: per candidate × strength, its controls averaged.

    ``matches`` come from :func:`~tl_reasoning.evaluation.controls.matched_random_features`; each
    control is steered alone at its own f_max, and the controls of one candidate are the runs of
    one :class:`Averaged` condition, whose info records the features, their frequencies and pushes,
    the push tolerance and how many controls were asked (``n_requested``) — the summary compares
    that with how many were found. A candidate with no control at all raises.
    """
    from tl_reasoning.steering import feature_steering

    values = [float(strengths)] if isinstance(strengths, int | float) else [float(s) for s in strengths]
    missing = [m.feature for m in matches if m.f_max is None]
    if missing:
        raise ValueError(f"random control features {missing} have no f_max; match them with statistics that hold "
                         "maxima (stats=) or pass f_max= to matched_random_features")
    groups: dict[int, list[MatchedFeature]] = {}
    for match in matches:
        groups.setdefault(match.matched_to, []).append(match)
    found = dict(getattr(matches, "found", {}) or {})
    empty = [t for t, n in found.items() if n == 0]
    if empty:
        raise ValueError(f"no random control feature satisfies the frequency-and-push match of feature(s) {empty}; "
                         "widen push_tolerance, or evaluate without controls for them (and say so)")
    requested = int(getattr(matches, "requested", 0) or 0)
    tolerance = getattr(matches, "push_tolerance", None)
    out: dict[str, Averaged] = {}
    for target, group in groups.items():
        for strength in values:
            runs = [feature_steering(sae, [m.feature], strength=strength, mode=mode, f_max=m.f_max,
                                     positions=positions, **options) for m in group]
            info = {"kind": "random_features", "feature": f"random~{target}", "matched_to": target,
                    "features": [m.feature for m in group], "strength": strength, "mode": mode,
                    "frequencies": [m.frequency for m in group], "target_frequency": group[0].target_frequency,
                    "pushes": [m.push for m in group], "target_push": group[0].target_push,
                    "push_tolerance": tolerance, "n_requested": requested or len(group)}
            out[name.format(feature=target, strength=strength, mode=mode)] = Averaged(runs, info)
    return out


# -- evaluation ---------------------------------------------------------------------------------
def _think_end(backend: Any, think_end: int | str | None) -> tuple[int | None, str]:
    """``(id or None, text)`` of the token closing the thinking section."""
    from tl_reasoning.steering.session import resolve_token_id

    if think_end is None:
        return None, THINK_END
    try:
        token_id = resolve_token_id(backend, think_end)
    except ValueError:
        return None, str(think_end)
    text = str(think_end) if isinstance(think_end, str) else backend.decode([token_id])
    return token_id, text


def evaluate(
    model: Any,
    benchmark_items: Sequence[EvalItem] | str,
    conditions: Mapping[str, Any] | None = None,
    *,
    n_samples: int = 1,
    max_new_tokens: int = 512,
    batch_size: int = 8,
    do_sample: bool | None = None,
    temperature: float = 0.6,
    top_p: float | None = 0.95,
    seed: int = 0,
    think_end: int | str | None = "</think>",
    vocab: Any = None,
    templates: Mapping[str, str] | None = None,
    chat: bool | None = None,
    baseline: str = "baseline",
    n_boot: int = 2000,
    confidence: float = 0.95,
    progress: bool | Callable[[EvalProgress], None] = False,
) -> EvaluationResult:
    """Evaluate ``model`` on ``benchmark_items`` under each condition; compare every one to the baseline.

    :param benchmark_items: :class:`EvalItem` objects, or a spec for :func:`load_eval_benchmark`.
    :param conditions: ``{name: condition}`` (module docstring). The condition named ``baseline``
        is the reference; if absent, an unsteered baseline is added and run first.
    :param n_samples: samples per problem (maj@k with k = ``n_samples`` when > 1).
    :param do_sample: default: sample when ``n_samples > 1`` (at ``temperature``, ``top_p``), else greedy.
    :param seed: per-batch generation seeds (``seed + batch index``) and the bootstrap seed.
    :param think_end: token closing the thinking section (``None`` or a multi-token string: every
        generated token counts as thinking, word bans are refused).
    :param vocab: reasoning vocabulary counted in thinking (default: the paper's 10 words).
    :param templates, chat: prompt options (:func:`~tl_reasoning.evaluation.prompting.build_prompt`).
    :param n_boot, confidence: paired-bootstrap settings for the summary.
    :param progress: ``True`` for stderr lines, or a callback receiving :class:`EvalProgress`.
    """
    from tl_reasoning.plugins import backend_for
    from tl_reasoning.steering import generate

    items = load_eval_benchmark(benchmark_items) if isinstance(benchmark_items, str) else list(benchmark_items)
    if not items:
        raise ValueError("evaluate needs at least one benchmark item")
    if n_samples < 1 or max_new_tokens < 1 or batch_size < 1:
        raise ValueError(f"n_samples, max_new_tokens and batch_size must be >= 1, got {n_samples}, "
                         f"{max_new_tokens}, {batch_size}")
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        raise ValueError("benchmark items have duplicate ids; every problem needs its own id")
    plan: dict[str, Any] = {baseline: None}
    plan.update(conditions or {})
    for value in plan.values():  # fail on bad conditions before generating anything
        if isinstance(value, Averaged):
            for run in value.runs:
                _parts(run)
        elif not isinstance(value, RandomWordBans):
            _parts(value)
    backend = backend_for(model)
    end_id, end_text = _think_end(backend, think_end)
    needs_end = any(isinstance(v, RandomWordBans) or _has_ban(v) for v in plan.values())
    if needs_end and end_id is None:
        raise ValueError(f"word bans act during thinking only, but {think_end!r} is not a single token of this "
                         "tokenizer; pass think_end=<the id that closes the thinking section>")
    sampling = n_samples > 1 if do_sample is None else do_sample
    counter = WordCounter(backend.tokenizer, vocab)
    prompts = build_prompts(items, backend, templates=templates, chat=chat)
    jobs = [(i, s) for i in range(len(items)) for s in range(n_samples)]
    skip = backend.special_token_ids
    start = time.perf_counter()
    callback = stderr_progress if progress is True else (progress or None)
    infos: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for index, (name, value) in enumerate(plan.items()):
        if isinstance(value, RandomWordBans):
            value = _resolve_random_bans(value, plan, rows, baseline)
        infos[name] = condition_info(value)
        runs = list(value.runs) if isinstance(value, Averaged) else [value]
        for run, run_value in enumerate(runs):
            parts = _parts(run_value)
            steerings = [p for p in parts if _is_steering(p)]
            bans = [p for p in parts if isinstance(p, WordBan)]
            done = 0
            for b in range(0, len(jobs), batch_size):
                chunk = jobs[b:b + batch_size]
                with ExitStack() as stack:
                    for ban in bans:
                        stack.enter_context(add_word_ban(model, ban, think_end=end_id if end_id is not None
                                                         else think_end))
                    generations = generate(
                        model, [prompts[i] for i, _ in chunk], max_new_tokens, steerings or None,
                        do_sample=sampling, temperature=temperature, top_p=top_p if sampling else None,
                        seed=seed + b // batch_size if sampling else None,
                        think_end=end_id if end_id is not None else (think_end or THINK_END))
                for (i, sample), gen in zip(chunk, generations, strict=True):
                    rows.append(_record(name, run, items[i], i, sample, gen, counter, end_id, end_text,
                                        backend.eos_token_id, skip, max_new_tokens))
                done += len(chunk)
                if callback is not None:
                    callback(EvalProgress(name, index, len(plan), run, len(runs), done, len(jobs),
                                          time.perf_counter() - start))
    import pandas as pd

    records = pd.DataFrame(rows)
    summary = summarize(records, infos, baseline=baseline, n_samples=n_samples, n_boot=n_boot,
                        confidence=confidence, seed=seed)
    config = {
        "baseline": baseline, "n_samples": n_samples, "max_new_tokens": max_new_tokens, "batch_size": batch_size,
        "do_sample": sampling, "temperature": temperature if sampling else None,
        "top_p": top_p if sampling else None, "seed": seed, "think_end": end_text, "think_end_id": end_id,
        "vocabulary": counter.words, "n_boot": n_boot, "confidence": confidence, "model": backend.name,
        "backend": backend.kind, "n_problems": len(items),
        "benchmark": sorted({item.benchmark for item in items}),
        "criteria": Criteria().to_json(), "criteria_text": criteria_text(),
    }
    return EvaluationResult(records, summary, infos, config, items)


def _has_ban(value: Any) -> bool:
    if isinstance(value, Averaged):
        return any(_has_ban(r) for r in value.runs)
    if isinstance(value, RandomWordBans):
        return True
    return any(isinstance(p, WordBan) for p in _parts(value))


def _resolve_random_bans(spec: RandomWordBans, plan: Mapping[str, Any], rows: list[dict[str, Any]],
                         baseline: str) -> Averaged:
    """Draw the random word bans from ``spec.texts`` or the baseline's generations.

    Defaults from the reasoning :class:`WordBan` of the same evaluation (else the paper's words):
    as many words as it bans, none of its words.
    """
    texts = spec.texts
    if texts is None:
        texts = [r["text"] for r in rows if r["condition"] == baseline]
    reasoning = [p for v in plan.values() if not isinstance(v, Averaged | RandomWordBans) for p in _parts(v)
                 if isinstance(p, WordBan)]
    vocabulary = reasoning[0].vocabulary if reasoning else WordBan().vocabulary
    n_words = len(vocabulary.words) if spec.n_words is None else spec.n_words
    exclude = list(spec.exclude) or vocabulary  # never draw the banned reasoning words themselves
    try:
        bans = random_word_bans(texts, n_words, spec.n_runs, spec.seed, exclude=exclude,
                                min_length=spec.min_length, positions=spec.positions)
    except ValueError as exc:
        source = "the given texts" if spec.texts is not None else "the baseline's thinking text"
        raise ValueError(f"random word-ban control: {exc} (drawn from {source}; generate more tokens or problems, "
                         "or pass RandomWordBans(texts=<thinking traces>))") from None
    return Averaged(bans, {"kind": "random_word_ban", "n_words": n_words, "n_runs": spec.n_runs,
                           "words": [list(b.words) for b in bans]})


def _record(condition: str, run: int, item: EvalItem, index: int, sample: int, gen: Any, counter: WordCounter,
            end_id: int | None, end_text: str, eos_id: int | None, skip: set[int],
            max_new_tokens: int) -> dict[str, Any]:
    """One generation's row. ``finished``: closed its thinking section (EOS when there is no single
    think-end token) and gave a parseable answer; ``capped``: stopped by ``max_new_tokens`` without EOS."""
    metrics = generation_metrics(gen.tokens, counter, think_end_id=end_id, eos_id=eos_id, skip=skip)
    predicted, correct = grade(gen.text, item, end_text)
    closed = metrics.think_closed if end_id is not None else metrics.eos
    return {
        "condition": condition, "run": run, "item_id": item.id, "item_index": index, "sample": sample,
        "answer_type": item.answer_type, "gold": item.answer, "extracted": predicted,
        "answer_key": answer_key(predicted, item.answer_type), "correct": bool(correct),
        "new_tokens": len([t for t in gen.tokens if t not in skip]), "thinking_tokens": metrics.thinking_tokens,
        "think_closed": metrics.think_closed, "eos": metrics.eos, "finished": bool(closed and predicted is not None),
        "capped": bool(not metrics.eos and len(gen.tokens) >= max_new_tokens), "repetition": metrics.repetition,
        "reasoning_words": metrics.reasoning_words, "word_rate": metrics.word_rate,
        "word_counts": dict(metrics.word_counts), "text": gen.text, "tokens": list(gen.tokens),
        "rho": _rho(gen),
    }


def _rho(gen: Any) -> float:
    """The push ρ of the generation's batch (the largest over its steerings), NaN when unsteered."""
    values = [r.rho for r in getattr(gen, "push", ()) if r.rho is not None]
    return max(values) if values else float("nan")
