"""Built-in interventions."""

from __future__ import annotations

from typing import Any

from tl_reasoning.hookspecs import hookimpl


@hookimpl
def tl_reasoning_register_interventions(register: Any) -> None:
    from tl_reasoning.interventions.additive import additive

    register("add", additive, "x ← x + γ·f_max·W_dec[i] at every position (paper Eq. 7)")
