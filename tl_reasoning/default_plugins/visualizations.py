"""Built-in visualisations (each returns a :class:`~tl_reasoning.views.View`)."""

from __future__ import annotations

from typing import Any

from tl_reasoning.hookspecs import hookimpl


@hookimpl
def tl_reasoning_register_visualizations(register: Any) -> None:
    from tl_reasoning import visualizations as v

    register("feature_activations", v.feature_activations, "a feature's activation on each token (circuitsvis)")
    register("top_contexts", v.top_contexts_view, "top-activating contexts of a feature (gather_top_contexts)")
    register("logit_lens", v.logit_lens_view, "tokens a feature promotes and suppresses (W_dec·W_U)")
    register("activation_histogram", v.activation_histogram, "histogram of a feature's positive activations")
    register("steering_comparison", v.steering_comparison, "baseline vs steered text, reasoning words marked")
    register("feature_dashboard", _dashboard, "HTML dashboard of many features (tl_reasoning.dashboard)")


def _dashboard(*args: Any, **kwargs: Any) -> Any:
    from tl_reasoning.dashboard import feature_dashboard

    return feature_dashboard(*args, **kwargs)
