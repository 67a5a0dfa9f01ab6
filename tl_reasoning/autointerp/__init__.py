"""Automatic interpretation of SAE features (the paper's §4.2) through explainer plugins.

:func:`interpret` gathers each feature's evidence (top contexts, logit lens, word profile, steered
generations at several γ), asks an explainer (``llm``: any OpenAI-compatible endpoint; ``template``:
no LLM; or a plugin's) for a description, groups the descriptions into behaviours and writes a table
per feature and the group distribution (paper Fig. 3b). See docs/interpret.md.
"""

from __future__ import annotations

from tl_reasoning.autointerp.evidence import (
    DEFAULT_STRENGTHS,
    EvidenceConfig,
    EvidenceSet,
    gather_evidence,
    load_evidence,
    pick_prompts,
)
from tl_reasoning.autointerp.pipeline import explain_evidence, interpret, make_explainer
from tl_reasoning.autointerp.records import Explainer, Explanation, FeatureEvidence, SteeredSample
from tl_reasoning.autointerp.result import InterpretResult, group_distribution_plot

__all__ = [
    "DEFAULT_STRENGTHS",
    "EvidenceConfig",
    "EvidenceSet",
    "Explainer",
    "Explanation",
    "FeatureEvidence",
    "InterpretResult",
    "SteeredSample",
    "explain_evidence",
    "gather_evidence",
    "group_distribution_plot",
    "interpret",
    "load_evidence",
    "make_explainer",
    "pick_prompts",
]
