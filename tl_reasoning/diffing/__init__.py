"""Model diffing (paper v2 §4.4, App. D.1): match SAE decoder directions across models and layers.

:func:`match_decoders` finds, for features of one SAE, the most similar decoder direction of another
(chunked, bounded memory); :func:`diff_presence` reports which share of the ReasonScore candidates of
a reasoning model's SAE is present in the base model's SAE, against random features;
:func:`cross_layer_presence` does the same for any number of SAEs. ``docs/diffing.md`` explains the
numbers and their caveats.
"""

from tl_reasoning.diffing.decoders import Decoder, as_decoder
from tl_reasoning.diffing.intervals import bootstrap_difference, fisher_exact, wilson_interval
from tl_reasoning.diffing.matching import DEFAULT_CHUNK, MatchResult, match_decoders
from tl_reasoning.diffing.plots import cosine_histogram_plot, diffing_figure, presence_plot
from tl_reasoning.diffing.presence import (
    DirectionPresence,
    PresenceResult,
    cross_layer_presence,
    diff_presence,
    load_candidates,
)
from tl_reasoning.diffing.sampling import activation_frequencies, sample_random_features

__all__ = [
    "DEFAULT_CHUNK",
    "Decoder",
    "DirectionPresence",
    "MatchResult",
    "PresenceResult",
    "activation_frequencies",
    "as_decoder",
    "bootstrap_difference",
    "cosine_histogram_plot",
    "cross_layer_presence",
    "diff_presence",
    "diffing_figure",
    "fisher_exact",
    "load_candidates",
    "match_decoders",
    "presence_plot",
    "sample_random_features",
    "wilson_interval",
]
