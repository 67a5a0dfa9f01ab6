"""What an explainer receives and returns: a feature's evidence and its explanation.

:class:`FeatureEvidence` is plain data (JSON round-trip through :meth:`to_dict`/:meth:`from_dict`), so
evidence gathered once (``tl-reasoning interpret --evidence-only``) can be explained later, by any
explainer plugin, without the model. :class:`Explanation` is what every explainer returns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["EVIDENCE_SCHEMA", "EXPLANATIONS_SCHEMA", "Explainer", "Explanation", "FeatureEvidence",
           "SteeredSample", "as_explanation"]

EVIDENCE_SCHEMA = "tl-reasoning/evidence/v1"
EXPLANATIONS_SCHEMA = "tl-reasoning/explanations/v1"


@dataclass
class SteeredSample:
    """One generation of the steering protocol: prompt ``prompt_index`` steered at ``strength`` γ."""

    strength: float
    prompt_index: int
    text: str
    new_tokens: int
    reasoning_words: int
    """Occurrences of the reasoning vocabulary in ``text`` (whole words)."""


@dataclass
class FeatureEvidence:
    """Everything known about one feature, as an explainer sees it.

    ``contexts``: top-activating windows, best first (``tokens``, ``values`` per token, ``center`` = the
    index of the maximum, ``value`` = its activation). ``logit_lens``: ``promoted``/``suppressed`` lists
    of ``[token, value]``. ``word_profile``: share p_i(r_j) of the feature's activation per reasoning word
    (``None`` without scoring statistics). ``steering``: steered generations, γ = 0 being the shared
    baseline. ``score``: the feature's row of the ReasonScore table.
    """

    feature: int
    score: dict[str, Any] = field(default_factory=dict)
    f_max: float | None = None
    contexts: list[dict[str, Any]] = field(default_factory=list)
    logit_lens: dict[str, list[list[Any]]] = field(default_factory=dict)
    word_profile: dict[str, float] | None = None
    steering: list[SteeredSample] = field(default_factory=list)
    rho: dict[str, float] = field(default_factory=dict)
    """Measured push ρ = ‖Δ‖/mean‖x‖ per strength (keys are ``str(γ)``)."""

    def strengths(self) -> list[float]:
        return sorted({s.strength for s in self.steering})

    def steering_summary(self) -> list[dict[str, float]]:
        """Per strength: mean new tokens and mean reasoning words per generation (the objective part)."""
        rows = []
        for gamma in self.strengths():
            part = [s for s in self.steering if s.strength == gamma]
            rows.append({"strength": gamma, "generations": len(part),
                         "mean_new_tokens": sum(s.new_tokens for s in part) / len(part),
                         "mean_reasoning_words": sum(s.reasoning_words for s in part) / len(part)})
        return rows

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureEvidence:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["steering"] = [SteeredSample(**s) for s in known.get("steering", [])]
        return cls(**known)


@dataclass
class Explanation:
    """An explainer's answer for one feature."""

    feature: int
    description: str
    labels: list[str] = field(default_factory=list)
    confidence: float | None = None
    group: str | None = None
    parsed: bool = True
    """False when the explainer's raw answer could not be read as the requested format (then
    ``description`` is the raw answer, shortened)."""
    raw: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Explainer(Protocol):
    """What an explainer plugin's factory returns. Only ``explain`` is required.

    Optional: ``check()`` (fail fast before evidence is gathered, e.g. an unreachable endpoint),
    ``group(explanations, evidence) -> {feature: group name}`` (behaviour clusters), ``usage``
    (an object with ``summary()`` and ``to_dict()``: requests, tokens, cost) and ``describe()``
    (a dict naming the explainer's model, for the output files).
    """

    def explain(self, evidence: FeatureEvidence) -> Explanation | str | dict[str, Any]: ...


def as_explanation(feature: int, answer: Any) -> Explanation:
    """An explainer's answer (an :class:`Explanation`, a string or a dict) as an :class:`Explanation`."""
    if isinstance(answer, Explanation):
        if answer.feature != feature:
            raise ValueError(f"the explainer answered for feature {answer.feature} when asked about {feature}")
        return answer
    if isinstance(answer, str):
        return Explanation(feature, answer.strip())
    if isinstance(answer, dict) and isinstance(answer.get("description"), str):
        confidence = answer.get("confidence")
        return Explanation(feature, answer["description"].strip(), [str(x) for x in answer.get("labels") or []],
                           float(confidence) if isinstance(confidence, int | float) else None,
                           answer.get("group"), bool(answer.get("parsed", True)))
    raise TypeError(f"an explainer returned {type(answer).__name__} for feature {feature}; return an Explanation, "
                    "a string or a dict with a 'description'")
