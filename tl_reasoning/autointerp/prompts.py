"""The LLM prompts of automatic interpretation, and the readers of their answers.

The paper (§4.2, App. B.2) gives GPT-4o each feature's steered outputs and top contexts, asks for a
description, then asks it to cluster the descriptions (with the steering behaviour) into behaviour
groups; it does not publish its prompts. These are ours, printed in full in docs/interpret.md (a test
keeps the two identical). Answers are requested as JSON; an answer that is not is kept, marked
``parsed=False``, never silently dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from tl_reasoning.autointerp.records import Explanation, FeatureEvidence

__all__ = ["EXPLAIN_SYSTEM", "GROUP_SYSTEM", "OTHER_GROUP", "UNASSIGNED", "explain_messages", "group_messages",
           "parse_explanation", "parse_groups", "render_evidence"]

EXPLAIN_SYSTEM = """\
You are an interpretability researcher. You are shown evidence about one feature (latent) of a sparse \
autoencoder trained on the residual stream of a language model that reasons step by step before answering. \
The evidence: the text windows where the feature is most active (the most active token is marked <<like \
this>>, with its activation), the output tokens its decoder direction promotes and suppresses (logit lens), \
how its activation is shared among reasoning words, and the model's outputs on the same prompts when the \
feature is steered at several strengths (negative = suppressed, 0 = unsteered, positive = amplified), with \
counts of reasoning words such as "wait" or "hmm".
Describe in one or two sentences what the feature represents and how steering it changes the model's \
reasoning behaviour (for example uncertainty, exploration of alternatives, reflection or self-correction, \
verification, structure). Say so if the evidence shows no clear pattern.
Answer with one JSON object and nothing else: {"description": "<one or two sentences>", "labels": \
["<one to three short behaviour labels>"], "confidence": <a number from 0 to 1>}"""

GROUP_SYSTEM = """\
You are an interpretability researcher. You are given descriptions of features of a sparse autoencoder \
trained on a reasoning language model, each with a summary of how steering the feature changed the \
model's outputs. Cluster the features into a small number of behaviour groups (for example uncertainty, \
exploration, reflection, self-correction and backtracking, numerical validation, structural organisation), \
naming each group in a few words. Put every feature in exactly one group; features that fit no group go \
to "Other Behavior".
Answer with one JSON object and nothing else: {"groups": [{"name": "<group name>", "features": \
[<feature ids>]}]}"""

OTHER_GROUP = "Other Behavior"
UNASSIGNED = "(unassigned)"
"""Group of a feature the grouping answer did not place (or could not be read): shown, not hidden."""


def render_evidence(evidence: FeatureEvidence, *, max_contexts: int = 10, examples: int = 2,
                    max_chars: int = 300) -> str:
    """The evidence of one feature as the text of the user message."""
    parts = [f"Feature {evidence.feature}."]
    if evidence.contexts:
        parts.append("Top-activating contexts:")
        for n, ctx in enumerate(evidence.contexts[:max_contexts], 1):
            tokens = list(ctx["tokens"])
            c = int(ctx["center"])
            tokens[c] = f"<<{tokens[c]}>>"
            parts.append(f"{n}. ({ctx['value']:.3g}) {_clip(''.join(tokens), max_chars)}")
    else:
        parts.append("Top-activating contexts: none (the feature never fired on the corpus searched).")
    if evidence.logit_lens:
        promoted = ", ".join(repr(t) for t, _ in evidence.logit_lens.get("promoted", []))
        suppressed = ", ".join(repr(t) for t, _ in evidence.logit_lens.get("suppressed", []))
        parts.append(f"Logit lens: promotes {promoted}; suppresses {suppressed}.")
    if evidence.word_profile:
        shares = sorted(evidence.word_profile.items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{w!r} {p:.2f}" for w, p in shares if p > 0) or "none"
        parts.append(f"Share of activation per reasoning word: {shown}.")
    if evidence.steering:
        parts.append("Steering (mean per output):")
        for row in evidence.steering_summary():
            parts.append(f"- strength {row['strength']:+g}: {row['mean_new_tokens']:.1f} new tokens, "
                         f"{row['mean_reasoning_words']:.2f} reasoning words")
        for gamma in evidence.strengths():
            shown_samples = [s for s in evidence.steering if s.strength == gamma][:examples]
            for s in shown_samples:
                parts.append(f"[strength {gamma:+g}, prompt {s.prompt_index}] {_clip(s.text, max_chars)}")
    return "\n".join(parts)


def explain_messages(evidence: FeatureEvidence, **render: Any) -> list[dict[str, str]]:
    """Chat messages asking for one feature's description."""
    return [{"role": "system", "content": EXPLAIN_SYSTEM},
            {"role": "user", "content": render_evidence(evidence, **render)}]


def group_messages(explanations: Sequence[Explanation], evidence: dict[int, FeatureEvidence]) -> list[dict[str, str]]:
    """Chat messages asking to cluster the descriptions (with each feature's steering summary)."""
    lines = []
    for exp in explanations:
        line = f"Feature {exp.feature}: {exp.description}"
        ev = evidence.get(exp.feature)
        if ev is not None and ev.steering:
            effect = "; ".join(f"γ {r['strength']:+g}: {r['mean_reasoning_words']:.2f} reasoning words"
                               for r in ev.steering_summary())
            line += f" (steering: {effect})"
        lines.append(line)
    return [{"role": "system", "content": GROUP_SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def parse_explanation(feature: int, text: str) -> Explanation:
    """An answer to :func:`explain_messages`; unreadable answers keep their text with ``parsed=False``."""
    obj = _json_object(text)
    if isinstance(obj, dict) and isinstance(obj.get("description"), str) and obj["description"].strip():
        labels = obj.get("labels")
        labels = [str(x) for x in labels] if isinstance(labels, list) else []
        confidence = obj.get("confidence")
        confidence = float(confidence) if isinstance(confidence, int | float) and 0 <= confidence <= 1 else None
        return Explanation(feature, obj["description"].strip(), labels, confidence, raw=text)
    return Explanation(feature, _clip(" ".join(text.split()), 500) or "(empty answer)", parsed=False, raw=text)


def parse_groups(text: str, features: Sequence[int]) -> tuple[dict[int, str], list[str]]:
    """``({feature: group}, problems)`` from an answer to :func:`group_messages`.

    Every feature gets a group: one the answer did not place (or an unreadable answer) gets
    :data:`UNASSIGNED`; unknown ids and second placements are ignored and listed in ``problems``.
    """
    wanted = {int(f) for f in features}
    groups: dict[int, str] = {}
    problems: list[str] = []
    obj = _json_object(text)
    entries = obj.get("groups") if isinstance(obj, dict) else None
    if not isinstance(entries, list):
        problems.append("the grouping answer is not the requested JSON; every feature left unassigned")
        entries = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            problems.append(f"skipped a malformed group entry {str(entry)[:80]!r}")
            continue
        for raw in entry.get("features") or []:
            try:
                feature = int(raw)
            except (TypeError, ValueError):
                problems.append(f"group {entry['name']!r} lists a non-integer feature {raw!r}")
                continue
            if feature not in wanted:
                problems.append(f"group {entry['name']!r} lists feature {feature}, which was not asked about")
            elif feature in groups:
                problems.append(f"feature {feature} placed twice; kept {groups[feature]!r}")
            else:
                groups[feature] = entry["name"].strip() or UNASSIGNED
    missing = sorted(wanted - set(groups))
    if missing and entries:
        problems.append(f"{len(missing)} feature(s) not placed by the answer: {missing[:10]}")
    return {f: groups.get(f, UNASSIGNED) for f in features}, problems


def _json_object(text: str) -> Any:
    """The first JSON object in ``text`` (code fences and surrounding prose allowed), else None."""
    text = re.sub(r"```(?:json)?", "", text or "")
    start = text.find("{")
    decoder = json.JSONDecoder()
    while start != -1:
        try:
            obj, _ = decoder.raw_decode(text, start)
            return obj
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
    return None


def _clip(text: str, limit: int) -> str:
    text = text.replace("\n", "⏎ ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
