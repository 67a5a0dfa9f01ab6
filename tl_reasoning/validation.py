"""Argument checks shared by the Python API (the command line's twin is :mod:`tl_reasoning.cli.argtypes`)."""

from __future__ import annotations

import math

__all__ = ["check_sampling"]


def check_sampling(do_sample: bool, temperature: float, top_p: float | None) -> None:
    """``ValueError`` for a sampling temperature that is not finite and > 0, or a ``top_p`` outside (0, 1]."""
    if do_sample and not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0 when sampling, got {temperature}; "
                         "use do_sample=False for greedy decoding")
    if top_p is not None and not (math.isfinite(top_p) and 0 < top_p <= 1):
        raise ValueError(f"top_p must be a probability in (0, 1], got {top_p}")
