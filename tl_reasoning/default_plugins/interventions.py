"""Built-in interventions."""

from __future__ import annotations

from typing import Any

from tl_reasoning.hookspecs import hookimpl


@hookimpl
def tl_reasoning_register_interventions(register: Any) -> None:
    from tl_reasoning.interventions import ablate, additive, cap, clamp

    register("add", additive, "x ← x + γ·f_max·d_i, d_i = decode(e_i) − decode(0), at every position (Eq. 7)")
    register("clamp", clamp, "set latent i to γ·f_max keeping the SAE error term: x + (γ·f_max − f_i(x))·d_i")
    register("cap", cap, "projection clamp along d̂ = d_i/‖d_i‖: x − (x·d̂)d̂ + γ·f_max·d̂ (only_above: a true cap)")
    register("ablate", ablate, "zero latent i keeping the error term (how='direction': remove d̂_i)")
