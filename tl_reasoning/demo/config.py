"""Settings of one demo run: which model, SAEs, data and how much of each step to do."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = ["DemoConfig", "QUICK"]


@dataclass(frozen=True)
class DemoConfig:
    """Everything :func:`~tl_reasoning.demo.run_demo` needs; the defaults reproduce the paper on the organism."""

    model: str = "organism"
    sae: str = "organism"
    base_sae: str | None = "organism-base"
    """SAE of the base model for model diffing (``None`` skips diffing)."""
    data: str = "organism:reasoning"
    benchmark: str = "organism"
    backend: str = "hooked"
    device: str | None = None
    score_docs: int = 400
    candidates: int = 4
    """Top ReasonScore features that are steered (the paper steers its top candidates one at a time)."""
    random_per_feature: int = 2
    """Activation-frequency-matched random control features per candidate."""
    strength: float = 2.0
    mode: str = "add"
    positions: str = "all"
    problems: int = 100
    max_new_tokens: int = 320
    batch_size: int = 50
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

    def replace(self, **changes: Any) -> DemoConfig:
        """A copy with ``changes`` applied (unknown names raise ``TypeError``)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Reduced sizes for smoke tests and CI (same steps, minutes become seconds).
QUICK: dict[str, Any] = dict(score_docs=40, candidates=1, random_per_feature=1, problems=4, max_new_tokens=64,
                             batch_size=4, random_word_bans=1, diff_random=50, dashboard_features=2,
                             dashboard_docs=20)
