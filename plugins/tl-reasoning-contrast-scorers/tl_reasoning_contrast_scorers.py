"""Contrast scorers for tl-reasoning, a third-party plugin distribution.

Two baselines a ReasonScore ranking should be compared against: the raw difference of mean
activations inside and outside reasoning-word windows, and their log ratio. Neither normalises by
total activation mass nor rewards spread over words, so features that are simply loud, or that
detect a single word, rank high here; disagreements with ReasonScore are worth a look.
"""

from __future__ import annotations

from typing import Any

import torch

import tl_reasoning

__all__ = ["log_ratio", "mean_difference"]


def mean_difference(stats: Any) -> torch.Tensor:
    """µ(window) − µ(other) per feature."""
    return stats.mean_window - stats.mean_other


def log_ratio(stats: Any, eps: float = 1e-6) -> torch.Tensor:
    """log((µ(window) + ε) / (µ(other) + ε)) per feature."""
    return torch.log((stats.mean_window + eps) / (stats.mean_other + eps))


@tl_reasoning.hookimpl
def tl_reasoning_register_scorers(register: Any) -> None:
    register("mean_difference", mean_difference, "µ(window) − µ(other), unnormalised contrast baseline")
    register("log_ratio", log_ratio, "log of the window/other mean-activation ratio")
