"""Visualisation functions returning :class:`~tl_reasoning.views.View` objects."""

from tl_reasoning.visualizations.feature_activations import feature_activations

__all__ = ["feature_activations"]
