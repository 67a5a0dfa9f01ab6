"""Control features for steering: random SAE features matched on activation frequency.

A steering effect is only meaningful if steering an *arbitrary* feature of the same kind does not
produce it. :func:`matched_random_features` draws, for each candidate feature, random features whose
activation frequency (the share of tokens where the feature is positive; from the statistics'
histogram: ``hist.sum(-1) / tokens_seen``) is close to the candidate's in log scale: among the
``pool`` live, unused non-candidate features nearest in ``|log f - log f_candidate|``, ``n`` are drawn
at random (seeded). Dead features (frequency 0), the candidates themselves and ``exclude`` are never
drawn, and no feature is drawn twice. Each control keeps its own f_max (from the statistics'
maxima, or ``f_max=``), so ``γ · f_max`` is on the control feature's own scale.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["MatchedFeature", "activation_frequencies", "matched_random_features"]


@dataclass(frozen=True)
class MatchedFeature:
    """A random control feature and the candidate it is matched to."""

    feature: int
    """The control feature's index."""
    matched_to: int
    """The candidate feature it stands in for."""
    frequency: float
    """Its activation frequency."""
    target_frequency: float
    """The candidate's activation frequency."""
    f_max: float | None
    """Its own maximum activation (units of ``sae.encode``), ``None`` if unknown."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def activation_frequencies(stats: Any) -> torch.Tensor:
    """``[d_sae]`` activation frequencies from statistics (``FeatureStats``, a stats file or directory).

    A ``[d_sae]`` tensor / array / list is taken as frequencies already.
    """
    if isinstance(stats, str | os.PathLike):
        stats = _load_stats(stats)
    hist = getattr(stats, "hist", None)
    if hasattr(stats, "tokens_seen"):
        if hist is None:
            raise ValueError("these statistics have no activation histogram, so activation frequencies are unknown; "
                             "recompute them with tl_reasoning.collect_stats (histograms on) or pass frequencies")
        seen = max(int(stats.tokens_seen), 1)
        return hist.double().sum(-1).cpu() / seen
    freq = torch.as_tensor(np.asarray(stats, dtype=np.float64))
    if freq.ndim != 1:
        raise ValueError(f"activation frequencies must be a [d_sae] vector, got shape {tuple(freq.shape)}")
    if bool((freq < 0).any()):
        raise ValueError("activation frequencies must be >= 0")
    return freq


def _f_max_table(stats: Any, f_max: Any) -> torch.Tensor | None:
    if f_max is not None:
        return torch.as_tensor(np.asarray(f_max, dtype=np.float64))
    if callable(getattr(stats, "f_max", None)) and getattr(stats, "max_activation", None) is not None:
        return stats.f_max(raw=True).double().cpu()
    return None


def _load_stats(path: str | os.PathLike[str]) -> Any:
    from tl_reasoning.stats import FeatureStats

    text = os.fspath(path)
    file = os.path.join(text, "stats.safetensors") if os.path.isdir(text) else text
    if not os.path.isfile(file):
        raise FileNotFoundError(f"no ReasonScore statistics at {file}; pass the directory written by "
                                "`tl-reasoning score` (it holds stats.safetensors)")
    return FeatureStats.load(file)


def matched_random_features(
    stats_or_frequencies: Any,
    features: int | Sequence[int],
    n_per_feature: int = 1,
    seed: int = 0,
    *,
    exclude: Iterable[int] = (),
    pool: int | None = None,
    f_max: Any = None,
) -> list[MatchedFeature]:
    """Random control features matched on activation frequency (see the module docstring).

    :param stats_or_frequencies: ``FeatureStats`` (with its histogram), a stats file/directory, or
        a ``[d_sae]`` vector of activation frequencies.
    :param features: the candidate features to match.
    :param n_per_feature: controls drawn per candidate.
    :param seed: seeds the draw.
    :param exclude: features never drawn (besides the candidates and dead features).
    :param pool: how many nearest features each draw chooses from (default ``max(10, 5 * n)``).
    :param f_max: a ``[d_sae]`` table of maxima (default: the statistics' ``f_max()`` when present).
    :returns: ``len(features) * n_per_feature`` matches, grouped by candidate in order.
    """
    feats = [int(features)] if isinstance(features, int) else [int(f) for f in features]
    if not feats:
        raise ValueError("matched_random_features needs at least one candidate feature")
    if n_per_feature < 1:
        raise ValueError(f"n_per_feature must be >= 1, got {n_per_feature}")
    if isinstance(stats_or_frequencies, str | os.PathLike):
        stats_or_frequencies = _load_stats(stats_or_frequencies)
    freq = activation_frequencies(stats_or_frequencies).double()
    d_sae = freq.numel()
    bad = [f for f in feats if not 0 <= f < d_sae]
    if bad:
        raise ValueError(f"feature index {bad[0]} is out of range for statistics of {d_sae} features")
    maxima = _f_max_table(stats_or_frequencies, f_max)
    if maxima is not None and maxima.numel() != d_sae:
        raise ValueError(f"f_max has {maxima.numel()} entries but there are {d_sae} features")
    available = freq > 0
    available[torch.tensor(feats)] = False
    for f in exclude:
        if 0 <= int(f) < d_sae:
            available[int(f)] = False
    size = pool if pool is not None else max(10, 5 * n_per_feature)
    if size < n_per_feature:
        raise ValueError(f"pool ({size}) must be >= n_per_feature ({n_per_feature})")
    floor = float(freq[freq > 0].min()) / 2 if bool((freq > 0).any()) else 1e-12
    log_freq = torch.log(freq.clamp(min=floor))
    rng = np.random.default_rng(seed)
    out: list[MatchedFeature] = []
    for target in feats:
        live = torch.nonzero(available).flatten()
        if live.numel() < n_per_feature:
            raise ValueError(f"only {live.numel()} live features are left to match feature {target} "
                             f"({n_per_feature} needed); lower n_per_feature or the exclusions")
        distance = (log_freq[live] - log_freq[target]).abs()
        order = torch.argsort(distance, stable=True)[: min(size, live.numel())]
        nearest = live[order].tolist()
        chosen = rng.choice(len(nearest), size=n_per_feature, replace=False)
        for k in sorted(int(c) for c in chosen):
            feature = int(nearest[k])
            available[feature] = False
            out.append(MatchedFeature(feature, target, float(freq[feature]), float(freq[target]),
                                      None if maxima is None else float(maxima[feature])))
    return out
