"""A feature's activation on each token of a text, as circuitsvis coloured tokens."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tl_reasoning.views import Component, View, cv_tokens

__all__ = ["feature_activations"]


def feature_activations(
    tokens: Sequence[str],
    activations: Sequence[float] | torch.Tensor,
    feature: int | str = "",
    max_value: float | None = None,
) -> View:
    """Colour each token by the feature's activation (0 = white, ``max_value`` = full colour).

    ``tokens`` are display strings (one per token) and ``activations`` a matching 1-D sequence;
    hovering a token shows its value (circuitsvis ``ColoredTokens``).
    """
    values = torch.as_tensor(activations, dtype=torch.float32).flatten()
    if len(tokens) != values.numel():
        raise ValueError(f"{len(tokens)} tokens but {values.numel()} activation values; give one value per token")
    if len(tokens) == 0:
        raise ValueError("feature_activations needs at least one token")
    top = float(values.max()) if max_value is None else float(max_value)
    props = {"tokens": cv_tokens(tokens), "values": values.tolist(), "minValue": 0.0,
             "maxValue": max(top, 1e-6)}
    title = f"Feature {feature} activations" if feature != "" else "Feature activations"
    peak = int(values.argmax())
    return View([Component("ColoredTokens", props)], title,
                {"tokens": list(tokens), "activations": values.tolist(), "argmax": peak})
