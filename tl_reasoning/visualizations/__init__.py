"""Visualisation functions returning :class:`~tl_reasoning.views.View` objects (circuitsvis inside).

* :func:`feature_activations` — a feature's activation on each token of a text;
* :func:`gather_top_contexts` + :func:`top_contexts_view` — top-activating contexts, one corpus pass;
* :func:`logit_lens` + :func:`logit_lens_view` — tokens a feature's decoder direction promotes/suppresses;
* :func:`activation_histogram` — distribution of a feature's positive activations;
* :func:`steering_comparison` — baseline vs steered generations;
* :func:`word_profile_view` — a feature's activation per reasoning word (ReasonScore's p_i(r_j)).
"""

from tl_reasoning.visualizations.feature_activations import feature_activations
from tl_reasoning.visualizations.histogram import activation_histogram, histogram_from_stats
from tl_reasoning.visualizations.logit_lens import LogitLens, logit_lens, logit_lens_view, unembedding
from tl_reasoning.visualizations.steering_comparison import steering_comparison
from tl_reasoning.visualizations.top_contexts import (
    TopContexts,
    TopKAccumulator,
    gather_top_contexts,
    top_contexts_view,
)
from tl_reasoning.visualizations.word_profile import word_profile, word_profile_view

__all__ = [
    "LogitLens",
    "TopContexts",
    "TopKAccumulator",
    "activation_histogram",
    "feature_activations",
    "gather_top_contexts",
    "histogram_from_stats",
    "logit_lens",
    "logit_lens_view",
    "steering_comparison",
    "top_contexts_view",
    "unembedding",
    "word_profile",
    "word_profile_view",
]
