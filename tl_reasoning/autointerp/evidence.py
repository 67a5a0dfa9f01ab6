"""Gather the evidence the paper's automatic interpretation (§4.2) gives an explainer, for many features.

Per feature: top-activating contexts (one corpus pass for all features), logit lens, the activation
share per reasoning word (from the scoring statistics), and steered generations on the same prompts at
several strengths γ (the paper: γ ∈ [−4, 4] on 30 prompts), γ = 0 being one baseline shared by all
features. No LLM is involved; the result is plain JSON (:class:`EvidenceSet`).
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tl_reasoning.autointerp.records import EVIDENCE_SCHEMA, FeatureEvidence, SteeredSample

__all__ = ["DEFAULT_STRENGTHS", "EvidenceConfig", "EvidenceSet", "gather_evidence", "load_evidence", "pick_prompts"]

#: γ values of the steering protocol (the paper steers "at several γ ∈ [−4, 4]"; its steps are not published).
DEFAULT_STRENGTHS: tuple[float, ...] = (-4.0, -2.0, 0.0, 2.0, 4.0)


@dataclass
class EvidenceConfig:
    """The settings that decide the evidence (an evidence file is reused only for equal settings)."""

    features: list[int]
    strengths: list[float] = field(default_factory=lambda: list(DEFAULT_STRENGTHS))
    prompts: list[str] = field(default_factory=list)
    positions: str = "all"
    mode: str = "add"
    max_new_tokens: int = 64
    temperature: float = 0.0
    seed: int = 0
    contexts: int = 10
    window: tuple[int, int] = (8, 4)
    max_docs: int = 400
    logit_k: int = 10
    words: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["window"] = list(self.window)
        return out


@dataclass
class EvidenceSet:
    """Evidence for every chosen feature plus what produced it."""

    config: EvidenceConfig
    features: list[FeatureEvidence]
    sources: dict[str, Any] = field(default_factory=dict)
    """``model``, ``sae``, ``sae_hash``, ``scores``, ``data``, ``neuronpedia_id`` (None when unknown)."""
    seconds: float = 0.0

    def by_feature(self) -> dict[int, FeatureEvidence]:
        return {e.feature: e for e in self.features}

    def to_dict(self) -> dict[str, Any]:
        return {"schema": EVIDENCE_SCHEMA, "config": self.config.to_dict(), "sources": self.sources,
                "seconds": self.seconds, "features": [e.to_dict() for e in self.features]}

    def save(self, path: str | os.PathLike[str]) -> Path:
        from tl_reasoning.views import write_text_atomic

        return write_text_atomic(path, json.dumps(self.to_dict(), indent=1, allow_nan=False))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvidenceSet:
        if data.get("schema") != EVIDENCE_SCHEMA:
            raise ValueError(f"not a tl-reasoning evidence file (schema {data.get('schema')!r}, expected "
                             f"{EVIDENCE_SCHEMA!r}); write one with `tl-reasoning interpret --evidence-only`")
        config = dict(data["config"])
        config["window"] = tuple(config.get("window", (8, 4)))
        return cls(EvidenceConfig(**config), [FeatureEvidence.from_dict(e) for e in data["features"]],
                   dict(data.get("sources") or {}), float(data.get("seconds", 0.0)))


def load_evidence(path: str | os.PathLike[str]) -> EvidenceSet:
    """Read an ``evidence.json`` (or the interpret folder holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / "evidence.json"
    if not p.is_file():
        raise FileNotFoundError(f"{p} not found; gather evidence with `tl-reasoning interpret --evidence-only`")
    return EvidenceSet.from_dict(json.loads(p.read_text()))


def pick_prompts(model: Any, source: str | Sequence[str] = "organism", n: int = 30, seed: int = 0) -> list[str]:
    """``n`` prompts: a seeded random sample of a benchmark's items (chat template applied when the
    model has one), or the given list of strings (first ``n``)."""
    if not isinstance(source, str):
        prompts = [str(p) for p in source][:n]
        if not prompts:
            raise ValueError("no steering prompts given")
        return prompts
    from tl_reasoning.evaluation import load_eval_benchmark
    from tl_reasoning.evaluation.prompting import build_prompts
    from tl_reasoning.plugins import backend_for

    items = load_eval_benchmark(source)
    chosen = sorted(random.Random(seed).sample(range(len(items)), min(n, len(items))))
    return build_prompts([items[i] for i in chosen], backend_for(model))


def gather_evidence(
    model: Any,
    sae: Any,
    scores: Any,
    data: Any,
    config: EvidenceConfig,
    *,
    sae_name: str | None = None,
    batch_size: int = 32,
    progress: bool = False,
) -> EvidenceSet:
    """The evidence of ``config.features`` (see :class:`EvidenceConfig`); ``scores`` as for the dashboard.

    Steering pushes ``γ·f_max·d_i`` (paper Eq. 7, ``config.mode``) with f_max from the scoring
    statistics; generations are greedy unless ``config.temperature > 0`` (then seeded sampling).
    """
    import time

    from tl_reasoning.dashboard.build import load_checked_scores
    from tl_reasoning.visualizations import gather_top_contexts, logit_lens, word_profile

    start = time.perf_counter()
    if not config.features:
        raise ValueError("no features to interpret; pass --top N or --features")
    if not config.prompts:
        raise ValueError("no steering prompts; pass --prompts (a benchmark name or file) or a list of prompts")
    frame, meta, stats = load_checked_scores(scores, sae, sae_name)
    if stats is None or stats.max_activation is None:
        raise ValueError("interpretation steers each feature at γ·f_max and needs the scoring statistics: pass a "
                         "`tl-reasoning score` folder holding stats.safetensors")
    decoder_norm = bool(meta.get("config", {}).get("decoder_norm", True))
    gathered = gather_top_contexts(model, sae, data, config.features, k=config.contexts, window=config.window,
                                   decoder_norm=decoder_norm, max_docs=config.max_docs, progress=progress)
    lenses = {lens.feature: lens for lens in logit_lens(model, sae, config.features, k=config.logit_k)}
    rows = {int(r["feature"]): _plain_row(r) for r in frame.to_dict("records")}
    f_max = stats.f_max(raw=True)
    baseline = _generate(model, sae, None, None, [0.0], config, batch_size)
    out = []
    steered_strengths = [g for g in config.strengths if g != 0.0]
    for feature in _progress(config.features, progress):
        evidence = FeatureEvidence(feature, rows.get(feature, {}), float(f_max[feature]))
        evidence.contexts = [_context(c) for c in gathered.contexts(feature)]
        lens = lenses[feature]
        evidence.logit_lens = {"promoted": [list(p) for p in lens.promoted],
                               "suppressed": [list(p) for p in lens.suppressed]}
        if getattr(stats, "mean_word", None) is not None and stats.words:
            words, p, _, _ = word_profile(stats, feature)
            evidence.word_profile = {w: round(float(x), 6) for w, x in zip(words, p, strict=True)}
        samples = list(baseline) if 0.0 in config.strengths else []
        if steered_strengths:
            steered = _generate(model, sae, feature, float(f_max[feature]), steered_strengths, config, batch_size)
            samples += steered
            evidence.rho = steered.rho
        evidence.steering = sorted(samples, key=lambda s: (s.strength, s.prompt_index))
        out.append(evidence)
    from tl_reasoning.neuronpedia import neuronpedia_id
    from tl_reasoning.scoring.collect import sae_identity

    sources = {"sae_hash": sae_identity(sae).get("w_dec_sample_sha256"), "neuronpedia_id": neuronpedia_id(sae),
               "sources": meta.get("sources", {})}
    return EvidenceSet(config, out, sources, time.perf_counter() - start)


class _Samples(list):
    """Generated samples plus the push ρ measured per strength."""

    rho: dict[str, float]


def _generate(model: Any, sae: Any, feature: int | None, f_max: float | None, strengths: list[float],
              config: EvidenceConfig, batch_size: int) -> _Samples:
    """Every (strength, prompt) pair, one strength per batch (so the measured push ρ is that strength's)."""
    from tl_reasoning.steering import feature_steering, generate
    from tl_reasoning.steering.display import count_words

    samples, rho = _Samples(), {}
    sampling = config.temperature > 0
    steering = None
    for gamma in strengths:
        if feature is not None:
            steering = feature_steering(sae, [feature], strength=gamma, f_max=f_max, mode=config.mode,
                                        positions=config.positions)
        pushes: list[tuple[float, int]] = []
        for start in range(0, len(config.prompts), batch_size):
            prompts = config.prompts[start:start + batch_size]
            gens = generate(model, prompts, max_new_tokens=config.max_new_tokens, steering=steering,
                            do_sample=sampling, temperature=config.temperature if sampling else 1.0,
                            seed=config.seed + start if sampling else None)
            for offset, gen in enumerate(gens):
                samples.append(SteeredSample(gamma, start + offset, gen.text, len(gen.tokens),
                                             count_words(gen.text, config.words)))
            if gens and gens[0].push and gens[0].push[0].rho is not None:
                pushes.append((float(gens[0].push[0].rho), len(prompts)))
        if pushes:
            rho[str(gamma)] = round(sum(r * n for r, n in pushes) / sum(n for _, n in pushes), 6)
    samples.rho = rho
    return samples


def _context(ctx: dict[str, Any]) -> dict[str, Any]:
    return {"value": round(float(ctx["value"]), 6), "center": int(ctx["center"]), "tokens": list(ctx["tokens"]),
            "values": [round(float(v), 6) for v in ctx["values"]]}


def _plain_row(row: dict[str, Any]) -> dict[str, Any]:
    """A score-table row with JSON-safe values (NaN dropped)."""
    out = {}
    for key, value in row.items():
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float) and value != value:
            continue
        if isinstance(value, str | int | float | bool) or value is None:
            out[key] = value
    return out


def _progress(features: list[int], enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(features, desc="steering", unit="feature", disable=not enabled, leave=False)
