"""Registers the steering methods and the ``steering_edit`` view with tl-reasoning (entry point ``steering_methods``)."""

from __future__ import annotations

from typing import Any

from tl_reasoning.hookspecs import hookimpl


@hookimpl
def tl_reasoning_register_interventions(register: Any) -> None:
    from tl_reasoning_steering_methods.gating import conditional
    from tl_reasoning_steering_methods.rotation import angular
    from tl_reasoning_steering_methods.scaling import scale

    register("angular", angular, "rotate toward the feature direction by γ degrees, norm kept (Vu & Nguyen 2025)")
    register("conditional", conditional,
             "add γ·f_max·d_i only where a condition holds: the latent fires / a direction matches (CAST)")
    register("scale", scale, "multiply the latent by 1+γ keeping the error term (how='projection': x·d̂ instead)")


@hookimpl
def tl_reasoning_register_visualizations(register: Any) -> None:
    from tl_reasoning_steering_methods.edit_view import steering_edit

    register("steering_edit", steering_edit, "per-token size of a steering's edit on a text (where it acts)")
