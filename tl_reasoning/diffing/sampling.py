"""The random-feature baseline of model diffing, and activation frequencies to match it on.

Whether a reasoning feature "is absent from the base model" only means something next to how often
an arbitrary feature of the same SAE is absent. Random features are drawn from the SAE's features
that are not candidates, either uniformly or matched on activation frequency: dense and rare
features behave differently (rare/dead features often have unconverged, idiosyncratic decoder
rows), so a baseline with another frequency profile than the candidates would be biased.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["activation_frequencies", "sample_random_features"]

_LOG_FLOOR = 1e-12


def activation_frequencies(source: Any) -> torch.Tensor:
    """Fraction of counted tokens on which each feature is active, ``[d_sae]`` float64.

    ``source``: a :class:`~tl_reasoning.FeatureStats` (``hist.sum(-1) / tokens_seen``), a path to a
    ``stats.safetensors`` file or a directory holding one (as written by ``tl-reasoning score``), or
    an array of per-feature frequencies (or counts, used as given: only their order matters here).
    """
    from tl_reasoning.stats import FeatureStats

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            path = path / "stats.safetensors"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; `tl-reasoning score --out DIR` writes DIR/stats.safetensors")
        source = FeatureStats.load(path)
    if isinstance(source, FeatureStats):
        if source.hist is None:
            raise ValueError("these statistics have no activation histogram, so no activation frequencies; "
                             "collect them again with tl_reasoning.collect_stats (histograms are on by default)")
        if source.tokens_seen <= 0:
            raise ValueError("these statistics counted no tokens, so there are no activation frequencies")
        return source.hist.double().sum(-1).cpu() / float(source.tokens_seen)
    freq = torch.as_tensor(np.asarray(source, dtype=np.float64)).reshape(-1)
    if freq.numel() and (bool(torch.isnan(freq).any()) or float(freq.min()) < 0):
        raise ValueError("activation frequencies must be non-negative numbers")
    return freq


def sample_random_features(
    d_sae: int,
    n: int,
    *,
    exclude: Sequence[int] = (),
    seed: int = 0,
    frequencies: Any = None,
    like: Sequence[int] | None = None,
    neighbours: int = 10,
) -> list[int]:
    """``n`` distinct random features of an SAE with ``d_sae`` features, none of them in ``exclude``.

    Without ``frequencies`` the draw is uniform. With them (anything
    :func:`activation_frequencies` accepts, ``[d_sae]``), every draw is matched to one feature of
    ``like`` (default ``exclude``, i.e. the candidates; taken in a random order, cycling when ``n``
    exceeds them): among the ``neighbours`` not yet drawn eligible features closest to it in
    log-frequency, one is picked uniformly. So the random features have the candidates' activation
    frequency profile while staying random. Returns sorted feature ids; the same arguments always
    give the same features.
    """
    if n < 0:
        raise ValueError(f"the number of random features must be >= 0, got {n}")
    if neighbours < 1:
        raise ValueError(f"neighbours must be >= 1, got {neighbours}")
    excluded = {int(f) for f in exclude}
    pool = np.array([f for f in range(d_sae) if f not in excluded], dtype=np.int64)
    if n > pool.size:
        raise ValueError(f"asked for {n} random features but the SAE has only {pool.size} features that are "
                         f"not candidates (d_sae={d_sae}); lower the number of random features")
    rng = np.random.default_rng(seed)
    if n == 0:
        return []
    if frequencies is None:
        return sorted(int(f) for f in rng.choice(pool, size=n, replace=False))
    freq = activation_frequencies(frequencies).numpy()
    if freq.shape != (d_sae,):
        raise ValueError(f"activation frequencies cover {freq.size} features but the SAE has d_sae={d_sae}; "
                         "pass the statistics of this SAE")
    targets = np.array(sorted(excluded) if like is None else [int(f) for f in like], dtype=np.int64)
    if targets.size == 0:
        return sorted(int(f) for f in rng.choice(pool, size=n, replace=False))
    if targets.min() < 0 or targets.max() >= d_sae:
        raise ValueError(f"feature {int(targets[(targets < 0) | (targets >= d_sae)][0])} is out of range "
                         f"for d_sae={d_sae}")
    log_f = np.log10(np.maximum(freq, _LOG_FLOOR))
    order = np.lexsort((rng.random(pool.size), log_f[pool]))  # by log-frequency, ties in random order
    ranked, values = pool[order], log_f[pool][order]
    used = np.zeros(ranked.size, dtype=bool)
    slots = np.resize(rng.permutation(targets), n)
    chosen: list[int] = []
    for target in slots:
        near = _nearest_unused(values, used, float(log_f[target]), neighbours)
        pick = near[int(rng.integers(len(near)))]
        used[pick] = True
        chosen.append(int(ranked[pick]))
    return sorted(chosen)


def _nearest_unused(values: np.ndarray, used: np.ndarray, target: float, k: int) -> list[int]:
    """Positions of the ``k`` unused entries of sorted ``values`` closest to ``target``."""
    right = int(np.searchsorted(values, target))
    left = right - 1
    out: list[int] = []
    while len(out) < k and (left >= 0 or right < values.size):
        while left >= 0 and used[left]:
            left -= 1
        while right < values.size and used[right]:
            right += 1
        if left < 0 and right >= values.size:
            break
        if right >= values.size or (left >= 0 and target - values[left] <= values[right] - target):
            out.append(left)
            left -= 1
        else:
            out.append(right)
            right += 1
    return out
