"""Control features for steering: random SAE features matched on activation frequency **and** push size.

A steering effect is only meaningful if steering an *arbitrary* feature of the same kind does not
produce it. "Of the same kind" means two things here:

* **push size** — steering adds ``γ · f_max_j · d_j`` (``d_j = decode(e_j) − decode(0)``,
  :func:`tl_reasoning.units.unit_directions`; ``f_max_j`` in ``sae.encode`` units), so the push is
  ``‖Δ_j‖ = γ · f_max_j · ‖d_j‖``. A control is *push-matched* to candidate ``c`` when
  ``|push_j / push_c − 1| ≤ push_tolerance`` (default 0.2, i.e. within ±20 %). Candidate and
  control are steered at the same γ and site, so this is the same as matching ρ = ‖Δ‖ / mean‖x‖
  within the same relative tolerance.
* **activation frequency** — the share of tokens where the feature is positive (from the
  statistics' histogram: ``hist.sum(-1) / tokens_seen``). Among the push-matched live features,
  the ``pool`` nearest to the candidate in ``|log f_j − log f_c|`` are kept and ``n`` of them are
  drawn at random (seeded).

Dead features (frequency 0), the candidates themselves and ``exclude`` are never drawn, and no
feature is drawn twice. Each control keeps its own f_max. When fewer than ``n`` features satisfy
the push match, all that do are returned, a :class:`ControlShortfallWarning` says how many, and
the count is kept in :attr:`MatchedControls.found` (it ends up in the evaluation's results); there
is no silent fallback to unmatched features (``strict=True`` raises instead).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

__all__ = [
    "DEFAULT_CONTROLS",
    "DEFAULT_PUSH_TOLERANCE",
    "ControlShortfallWarning",
    "MatchedControls",
    "MatchedFeature",
    "activation_frequencies",
    "matched_random_features",
]

#: Random control features per candidate by default.
DEFAULT_CONTROLS = 10
#: Largest relative difference of a control's push ``f_max·‖d‖`` from the candidate's (±20 %).
DEFAULT_PUSH_TOLERANCE = 0.2


class ControlShortfallWarning(UserWarning):
    """Fewer features than asked satisfy the frequency-and-push match of a candidate."""


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
    push: float | None = None
    """Its push per unit γ, ``f_max · ‖d_j‖`` (``None`` without unit norms)."""
    target_push: float | None = None
    """The candidate's push per unit γ."""

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


class MatchedControls(list):  # type: ignore[type-arg]
    """The drawn :class:`MatchedFeature` list, plus how the draw went.

    ``requested``: controls asked per candidate; ``found``: ``{candidate: controls drawn}`` (fewer
    than ``requested`` when too few features satisfy the match); ``push_tolerance``: the push rule
    (``None``: push size was not matched).
    """

    def __init__(self, matches: Iterable[MatchedFeature] = (), *, requested: int = 0,
                 found: dict[int, int] | None = None, push_tolerance: float | None = None) -> None:
        super().__init__(matches)
        self.requested = requested
        self.found: dict[int, int] = dict(found or {})
        self.push_tolerance = push_tolerance

    @property
    def shortfall(self) -> dict[int, int]:
        """``{candidate: controls found}`` for the candidates with fewer than ``requested``."""
        return {c: n for c, n in self.found.items() if n < self.requested}


def _norm_table(stats: Any, norms: Any) -> torch.Tensor | None:
    if norms is not None:
        if hasattr(norms, "W_dec"):
            from tl_reasoning.units import unit_norms

            return unit_norms(norms).double().cpu()
        return torch.as_tensor(np.asarray(norms, dtype=np.float64))
    decoder_norm = getattr(stats, "decoder_norm", None)
    return None if decoder_norm is None else decoder_norm.double().cpu()


def matched_random_features(
    stats_or_frequencies: Any,
    features: int | Sequence[int],
    n_per_feature: int = DEFAULT_CONTROLS,
    seed: int = 0,
    *,
    exclude: Iterable[int] = (),
    pool: int | None = None,
    f_max: Any = None,
    norms: Any = None,
    push_tolerance: float | None = DEFAULT_PUSH_TOLERANCE,
    strict: bool = False,
) -> MatchedControls:
    """Random control features matched on activation frequency and push size (module docstring).

    :param stats_or_frequencies: ``FeatureStats`` (with its histogram), a stats file/directory, or
        a ``[d_sae]`` vector of activation frequencies.
    :param features: the candidate features to match.
    :param n_per_feature: controls drawn per candidate (default 10).
    :param seed: seeds the draw.
    :param exclude: features never drawn (besides the candidates and dead features).
    :param pool: how many frequency-nearest push-matched features each draw chooses from
        (default ``max(10, 5 * n)``).
    :param f_max: a ``[d_sae]`` table of maxima in ``sae.encode`` units (default: the statistics'
        ``f_max(raw=True)``).
    :param norms: the SAE, or a ``[d_sae]`` table of ``‖d_j‖`` (default: the statistics'
        ``decoder_norm``, which is ``‖d_j‖``).
    :param push_tolerance: largest ``|push_j / push_c − 1|``; ``None`` matches frequency only
        (recorded as such).
    :param strict: raise instead of warning when a candidate gets fewer than ``n_per_feature``.
    :returns: the matches grouped by candidate in order (:class:`MatchedControls`).
    """
    feats = [int(features)] if isinstance(features, int) else [int(f) for f in features]
    if not feats:
        raise ValueError("matched_random_features needs at least one candidate feature")
    if n_per_feature < 1:
        raise ValueError(f"n_per_feature must be >= 1, got {n_per_feature}")
    if push_tolerance is not None and not push_tolerance >= 0:
        raise ValueError(f"push_tolerance must be >= 0 (or None), got {push_tolerance}")
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
    unit = _norm_table(stats_or_frequencies, norms)
    if unit is not None and unit.numel() != d_sae:
        raise ValueError(f"norms has {unit.numel()} entries but there are {d_sae} features")
    push = None if maxima is None or unit is None else maxima * unit
    if push_tolerance is not None and push is None:
        raise ValueError("matching the push size needs f_max and the unit norms ‖d_j‖: pass statistics with maxima "
                         "(or f_max=) and norms=<the SAE> (or statistics with decoder_norm), or push_tolerance=None "
                         "to match on frequency only")
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
    out = MatchedControls(requested=n_per_feature, push_tolerance=push_tolerance)
    for target in feats:
        eligible = available.clone()
        if push_tolerance is not None and push is not None:
            scale = max(float(push[target]), 1e-12)
            eligible &= (push / scale - 1.0).abs() <= push_tolerance + 1e-12
        live = torch.nonzero(eligible).flatten()
        if push_tolerance is None and live.numel() < n_per_feature:
            raise ValueError(f"only {live.numel()} live features are left to match feature {target} "
                             f"({n_per_feature} needed); lower n_per_feature or the exclusions")
        take = min(n_per_feature, live.numel())
        out.found[target] = take
        if take < n_per_feature:
            message = (f"only {live.numel()} live features have a push within ±{push_tolerance:.0%} of feature "
                       f"{target}'s; {take} controls instead of {n_per_feature} (widen push_tolerance or lower "
                       "n_per_feature)")
            if strict:
                raise ValueError(message)
            warnings.warn(message, ControlShortfallWarning, stacklevel=2)
        if take == 0:
            continue
        distance = (log_freq[live] - log_freq[target]).abs()
        order = torch.argsort(distance, stable=True)[: max(take, min(size, live.numel()))]
        nearest = live[order].tolist()
        chosen = rng.choice(len(nearest), size=take, replace=False)
        for k in sorted(int(c) for c in chosen):
            feature = int(nearest[k])
            available[feature] = False
            out.append(MatchedFeature(
                feature, target, float(freq[feature]), float(freq[target]),
                None if maxima is None else float(maxima[feature]),
                None if push is None else float(push[feature]), None if push is None else float(push[target])))
    return out
