"""``tl_reasoning.autointerp``: the paper's automatic interpretation (§4.2) on the selected features.

Order of work, so that nothing expensive is lost: the explainer is created and checked first (an
unreachable endpoint fails in seconds, before any model work), then evidence is gathered (or reused
from ``out/evidence.json`` when its settings are the same) and saved, then each feature is explained,
then the descriptions are grouped, then every file is written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tl_reasoning.autointerp.evidence import (
    DEFAULT_STRENGTHS,
    EvidenceConfig,
    EvidenceSet,
    gather_evidence,
    load_evidence,
    pick_prompts,
)
from tl_reasoning.autointerp.records import Explanation, as_explanation
from tl_reasoning.autointerp.result import InterpretResult

__all__ = ["explain_evidence", "interpret", "make_explainer"]


def make_explainer(name: str, **options: Any) -> Any:
    """The registered explainer ``name`` (``tl-reasoning plugins`` lists them), built with ``options``."""
    from tl_reasoning.plugins import get_registry

    explainer = get_registry("explainer").get(name).obj(**options)
    if not callable(getattr(explainer, "explain", None)):
        raise TypeError(f"explainer {name!r} returned a {type(explainer).__name__} without an explain() method")
    return explainer


def interpret(
    model: Any,
    sae: Any,
    scores: Any,
    data: Any,
    *,
    explainer: str | Any = "llm",
    explainer_options: Mapping[str, Any] | None = None,
    features: Sequence[int] | None = None,
    top: int = 10,
    prompts: str | Sequence[str] = "organism",
    n_prompts: int = 30,
    strengths: Sequence[float] = DEFAULT_STRENGTHS,
    positions: str = "all",
    mode: str = "add",
    max_new_tokens: int = 64,
    temperature: float = 0.0,
    seed: int = 0,
    contexts: int = 10,
    max_docs: int = 400,
    words: Sequence[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    evidence_only: bool = False,
    sae_name: str | None = None,
    batch_size: int = 32,
    progress: bool = False,
) -> InterpretResult | EvidenceSet:
    """Describe the ``top`` features by ReasonScore (or ``features``) and group them into behaviours.

    ``explainer``: a registered name (``llm``: any OpenAI-compatible endpoint; ``template``: no LLM)
    or an object with ``explain``. ``prompts``: a benchmark name/file (``n_prompts`` items sampled with
    ``seed``) or a list of prompt strings. Each feature is steered at every γ of ``strengths`` on every
    prompt (γ = 0: the shared baseline). ``out``: folder for the files (see
    :class:`~tl_reasoning.autointerp.InterpretResult`; with the ``llm`` explainer its request cache lives
    there too, so a rerun sends no request). ``evidence_only``: gather and save the evidence, ask no
    explainer, return the :class:`~tl_reasoning.autointerp.EvidenceSet`.
    """
    from tl_reasoning.steering.display import reasoning_words

    _check_sizes(top=top, n_prompts=n_prompts, max_new_tokens=max_new_tokens, contexts=contexts, max_docs=max_docs)
    if not strengths:
        raise ValueError("strengths is empty; pass at least one γ (e.g. -4,-2,0,2,4)")
    root = Path(out) if out is not None else None
    timings: dict[str, float] = {}
    explainer_obj = None
    if not evidence_only:
        options = dict(explainer_options or {})
        if isinstance(explainer, str) and explainer == "llm" and root is not None:
            options.setdefault("cache", root / "llm_cache.jsonl")
        explainer_obj = explainer
        if isinstance(explainer, str):  # an explainer object passed in was checked (or not) by its owner
            explainer_obj = make_explainer(explainer, **options)
            if callable(getattr(explainer_obj, "check", None)):
                explainer_obj.check()
    chosen = [int(f) for f in features] if features is not None else _top_features(scores, top)
    config = EvidenceConfig(
        features=chosen, strengths=[float(g) for g in strengths],
        prompts=pick_prompts(model, prompts, n_prompts, seed), positions=positions, mode=mode,
        max_new_tokens=max_new_tokens, temperature=float(temperature), seed=seed, contexts=contexts,
        max_docs=max_docs, words=list(words) if words is not None else reasoning_words(),
    )
    start = time.perf_counter()
    evidence = _reusable(root, config)
    if evidence is None:
        evidence = gather_evidence(model, sae, scores, data, config, sae_name=sae_name, batch_size=batch_size,
                                   progress=progress)
        evidence.sources.update(_sources(sae_name, scores, data))
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
            evidence.save(root / "evidence.json")
    timings["evidence"] = round(time.perf_counter() - start, 3)
    if evidence_only:
        return evidence
    try:
        result = explain_evidence(evidence, explainer_obj, name=explainer if isinstance(explainer, str) else None,
                                  progress=progress)
    finally:
        if callable(getattr(explainer_obj, "close", None)):
            explainer_obj.close()
    result.seconds = {**timings, **result.seconds}
    if root is not None:
        result.save(root)
    return result


def explain_evidence(evidence: EvidenceSet, explainer: Any, *, name: str | None = None,
                     progress: bool = False) -> InterpretResult:
    """Explain and group every feature of ``evidence`` with ``explainer`` (an object or a registered name)."""
    from tqdm.auto import tqdm

    if isinstance(explainer, str):
        name, explainer = explainer, make_explainer(explainer)
    start = time.perf_counter()
    explanations: list[Explanation] = []
    for ev in tqdm(evidence.features, desc="explaining", unit="feature", disable=not progress, leave=False):
        explanations.append(as_explanation(ev.feature, explainer.explain(ev)))
    explained = time.perf_counter()
    problems: list[str] = []
    if callable(getattr(explainer, "group", None)) and explanations:
        groups = explainer.group(explanations, evidence.by_feature())
        problems = list(getattr(explainer, "group_problems", []) or [])
        for exp in explanations:
            exp.group = groups.get(exp.feature, exp.group)
    describe = explainer.describe() if callable(getattr(explainer, "describe", None)) else {}
    usage = getattr(explainer, "usage", None)
    return InterpretResult(
        evidence, explanations, {"explainer": name or type(explainer).__name__, **describe},
        usage.to_dict() if usage is not None and hasattr(usage, "to_dict") else None, problems,
        {"explain": round(explained - start, 3), "group": round(time.perf_counter() - explained, 3)})


def _reusable(root: Path | None, config: EvidenceConfig) -> EvidenceSet | None:
    """The evidence saved in ``root`` if it was gathered with exactly ``config``, else None."""
    if root is None or not (root / "evidence.json").is_file():
        return None
    try:
        saved = load_evidence(root)
    except (ValueError, KeyError, TypeError):
        return None
    return saved if saved.config.to_dict() == config.to_dict() else None


def _top_features(scores: Any, top: int) -> list[int]:
    from tl_reasoning.dashboard.build import chosen_features, load_scores

    return chosen_features(load_scores(scores)[0], None, top)


def _sources(sae_name: str | None, scores: Any, data: Any) -> dict[str, Any]:
    return {"sae_name": sae_name, "scores": str(scores) if isinstance(scores, str | os.PathLike) else None,
            "data": str(data) if isinstance(data, str | os.PathLike) else None}


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
