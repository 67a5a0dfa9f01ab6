"""Built-in visualisations."""

from __future__ import annotations

from typing import Any

from tl_reasoning.hookspecs import hookimpl


@hookimpl
def tl_reasoning_register_visualizations(register: Any) -> None:
    from tl_reasoning.visualizations.feature_activations import feature_activations

    register("feature_activations", feature_activations, "a feature's activation on each token (circuitsvis)")
