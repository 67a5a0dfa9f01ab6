"""Built-in scorers."""

from __future__ import annotations

from typing import Any

from tl_reasoning.hookspecs import hookimpl


@hookimpl
def tl_reasoning_register_scorers(register: Any) -> None:
    from tl_reasoning.scoring.reason_score import reason_score

    register("reason_score", reason_score, "ReasonScore (paper Eq. 5): window-specific activation mass × word entropy^α")
