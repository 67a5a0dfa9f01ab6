"""The built-in explainers: ``llm`` (any OpenAI-compatible endpoint) and ``template`` (no LLM).

``llm`` sends :mod:`~tl_reasoning.autointerp.prompts`' messages through
:class:`~tl_reasoning.autointerp.llm.ChatClient` (retries, request budget, per-run cache, token and
cost accounting) and clusters the descriptions with a second request, as the paper does.
``template`` writes a description from the evidence alone (top token, logit lens, steering counts):
a baseline any LLM description should beat, and the way to run the whole pipeline offline.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from tl_reasoning.autointerp.prompts import (
    OTHER_GROUP,
    explain_messages,
    group_messages,
    parse_explanation,
    parse_groups,
)
from tl_reasoning.autointerp.records import Explanation, FeatureEvidence

__all__ = ["LLMExplainer", "TemplateExplainer"]


class LLMExplainer:
    """Describe features with a chat model behind an OpenAI-compatible endpoint.

    Options (CLI flags ``--base-url``, ``--llm-model``, ``--api-key``, ... or the environment:
    ``TL_REASONING_LLM_BASE_URL``, ``TL_REASONING_LLM_MODEL``, ``TL_REASONING_LLM_API_KEY``, else
    ``OPENAI_*``): those of :class:`~tl_reasoning.autointerp.llm.EndpointConfig`, plus ``cache`` (a
    JSONL file; reruns with the same prompts send nothing) and ``max_contexts``/``examples``/
    ``max_chars`` (how much evidence goes into each prompt).
    """

    def __init__(self, *, cache: str | os.PathLike[str] | None = None, max_contexts: int = 10, examples: int = 2,
                 max_chars: int = 300, **endpoint: Any) -> None:
        from tl_reasoning.autointerp.llm import ChatClient, EndpointConfig

        self.client = ChatClient(EndpointConfig(**endpoint), cache=cache)
        self.render = {"max_contexts": max_contexts, "examples": examples, "max_chars": max_chars}
        self.group_problems: list[str] = []

    @property
    def usage(self) -> Any:
        return self.client.usage

    def describe(self) -> dict[str, Any]:
        return {"explainer": "llm", **self.client.config.public()}

    def check(self) -> None:
        self.client.check()

    def explain(self, evidence: FeatureEvidence) -> Explanation:
        reply = self.client.complete(explain_messages(evidence, **self.render))
        return parse_explanation(evidence.feature, reply.text)

    def group(self, explanations: Sequence[Explanation], evidence: dict[int, FeatureEvidence]) -> dict[int, str]:
        reply = self.client.complete(group_messages(explanations, evidence))
        groups, self.group_problems = parse_groups(reply.text, [e.feature for e in explanations])
        return groups

    def close(self) -> None:
        self.client.close()


class TemplateExplainer:
    """A description assembled from the evidence by fixed rules; groups by the dominant reasoning word.

    No model is asked, so it cannot see meaning; it says what the numbers say, and its groups are the
    word each feature's activation concentrates on (``word: wait``), or ``Other Behavior`` when none.
    """

    def describe(self) -> dict[str, Any]:
        return {"explainer": "template", "model": None}

    def explain(self, evidence: FeatureEvidence) -> Explanation:
        parts, labels = [], []
        if evidence.contexts:
            ctx = evidence.contexts[0]
            parts.append(f"fires most on {ctx['tokens'][int(ctx['center'])]!r} (activation {ctx['value']:.3g})")
        else:
            parts.append("never fired on the corpus searched")
        promoted = [t for t, _ in evidence.logit_lens.get("promoted", [])[:3]]
        if promoted:
            parts.append("promotes " + ", ".join(repr(t) for t in promoted))
        word = _dominant_word(evidence)
        if word:
            parts.append(f"its reasoning-word activation is mostly on {word!r}")
            labels.append(f"word: {word}")
        summary = {row["strength"]: row for row in evidence.steering_summary()}
        if 0.0 in summary and len(summary) > 1:
            top = max(summary)
            base, high = summary[0.0], summary[top]
            parts.append(f"steering at γ {top:+g} changes reasoning words per output from "
                         f"{base['mean_reasoning_words']:.2f} to {high['mean_reasoning_words']:.2f} and length from "
                         f"{base['mean_new_tokens']:.1f} to {high['mean_new_tokens']:.1f} tokens")
        text = "; ".join(parts)
        return Explanation(evidence.feature, text[0].upper() + text[1:] + ".", labels)

    def group(self, explanations: Sequence[Explanation], evidence: dict[int, FeatureEvidence]) -> dict[int, str]:
        out = {}
        for exp in explanations:
            word = _dominant_word(evidence[exp.feature]) if exp.feature in evidence else None
            out[exp.feature] = f"word: {word}" if word else OTHER_GROUP
        return out


def _dominant_word(evidence: FeatureEvidence) -> str | None:
    """The reasoning word holding at least half of the feature's word-window activation, if any."""
    if not evidence.word_profile:
        return None
    word, share = max(evidence.word_profile.items(), key=lambda kv: kv[1])
    return word if share >= 0.5 else None
