"""Settings of one demo run: which model, SAEs, data and how much of each step to do."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = ["QUICK", "DemoConfig", "estimated_seconds"]


@dataclass(frozen=True)
class DemoConfig:
    """Everything :func:`~tl_reasoning.demo.run_demo` needs; the defaults reproduce the paper on the organism."""

    model: str = "organism"
    sae: str = "organism"
    base_sae: str | None = "organism-base"
    """SAE of the base model for model diffing (``None`` skips diffing)."""
    data: str = "organism:reasoning"
    benchmark: str = "organism"
    backend: str = "nnsight"
    """The wrapper the demo runs on. nnsight (the default) generates at the speed of Hugging Face ``generate``
    (steered: 0.98x, ``benchmarks/bench_generate.py``) where TransformerLens's HookedTransformer reaches 0.4x
    (its rotary attention); the backends give the same logits (tests/test_backends.py). ``auto``: the model's
    own default (the organism: HookedTransformer on TransformerLens 3, Bridge on 4)."""
    device: str | None = None
    score_docs: int = 400
    candidates: int = 2
    """Top ReasonScore features that are steered (the paper steers its top candidates one at a time). 2, not
    4: with 10 push-matched controls each, 2 candidates keep the demo within 10 min on 2 busy CPU cores."""
    random_per_feature: int = 10
    """Random control features per candidate, matched on activation frequency and push size
    (:func:`~tl_reasoning.evaluation.matched_random_features`), each steered on every problem."""
    push_tolerance: float = 0.2
    """A control's push ``γ·f_max·‖d_j‖`` must lie within ± this fraction of its candidate's."""
    strength: float = 2.0
    mode: str = "add"
    positions: str = "all"
    problems: int = 64
    """Benchmark problems, the same for every condition and control (64: the whole demo takes about 7 min on 2
    busy CPU cores; generation is ~95 % of it)."""
    max_new_tokens: int = 320
    """Above the organism's longest unsteered generation (277 tokens on 100 problems), so the baseline
    finishes; steered generations that derail are cut here."""
    batch_size: int = 32
    samples: int = 1
    """Generations per problem; > 1 samples (at ``temperature``, 0.6 when that is 0) and reports maj@k and
    mean pass@1 over the samples, as the paper does."""
    temperature: float = 0.6
    """Sampling temperature, the paper's 0.6 (the default); 0: greedy decoding. The organism's slips and
    reflections are probabilistic, so greedy decoding would show neither."""
    top_p: float = 0.95
    """Nucleus sampling when sampling (the paper: 0.95)."""
    oracle_rho: float | None = 0.2
    """Push (ρ, relative to the mean residual norm) of the positive control, the organism's planted oracle
    direction (``tl_reasoning.organism.ground_truth``); ``None``/0 leaves it out. Fixed before any result."""
    word_ban: bool = True
    random_word_bans: int = 2
    diff_random: int = 200
    diff_threshold: float = 0.7
    diff_also: str | None = None
    """More SAEs to diff the candidates against, comma-separated (e.g. the paper's stage-wise SAEs); ``None``:
    the registered ``organism-stage-*`` SAEs when steering the organism, else none; ``""``: none."""
    dashboard_features: int = 6
    dashboard_docs: int = 200
    seed: int = 0
    target_change: float = 20.0
    """Relative change (%) of thinking length and word rate the top features should reach (issue #7)."""
    control_limit: float = 5.0
    """Largest relative change (%) the random controls may show."""
    min_verdict_problems: int = 20
    """Fewer benchmark problems than this make a smoke run: the table is printed, no verdict is given."""

    def replace(self, **changes: Any) -> DemoConfig:
        """A copy with ``changes`` applied (unknown names raise ``TypeError``)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimated_seconds(config: DemoConfig) -> float | None:
    """Rough run time of ``config`` on 2 busy CPU cores (:mod:`tl_reasoning.estimates`); ``None`` off the organism."""
    from tl_reasoning.estimates import ORGANISMS, organism_demo_seconds

    if config.model not in ORGANISMS or (config.device or "cpu") != "cpu":
        return None
    return organism_demo_seconds(
        score_docs=config.score_docs, dashboard_docs=config.dashboard_docs, problems=config.problems * config.samples,
        max_new_tokens=config.max_new_tokens, candidates=config.candidates,
        random_per_feature=config.random_per_feature, word_ban=config.word_ban,
        random_word_bans=config.random_word_bans)


#: Reduced sizes for smoke tests and CI: the same steps in well under a minute. 256 new tokens cover the
#: organism's unsteered generations (95th percentile 228 on 100 problems, at most 224 on the first 12), so
#: the baseline finishes thinking and answers; 12 problems are below ``min_verdict_problems``: no verdict.
QUICK: dict[str, Any] = dict(score_docs=40, candidates=1, random_per_feature=2, problems=12, max_new_tokens=256,
                             batch_size=12, random_word_bans=1, diff_random=50, dashboard_features=2,
                             dashboard_docs=20)
