"""``f_max``: the activation scale a steering strength γ multiplies (``γ·f_max``).

The paper estimates it on "a subset of" OpenThoughts without saying how. Here it is either
estimated on a corpus in one capture pass (:func:`estimate_f_max`: the maximum, or a high quantile
that is less sensitive to outliers), read from ReasonScore statistics (:func:`f_max_from_stats`),
or given by the user. All values are in the units of the SAE as loaded (use the same
parameterisation for f_max and W_dec).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = ["STATS_MAX_KEYS", "estimate_f_max", "f_max_from_stats"]

#: Keys searched, in order, for a per-feature maximum activation ``[d_sae]`` when statistics are not a
#: :class:`~tl_reasoning.stats.FeatureStats` (whose ``f_max()`` is used): safetensors tensors,
#: attributes or ``extra`` entries.
STATS_MAX_KEYS: tuple[str, ...] = ("max_activation", "max", "extra.max")


def estimate_f_max(
    model: Any,
    sae: Any,
    texts: Iterable[str],
    features: int | Sequence[int],
    quantile: float | None = None,
    *,
    site: str | None = None,
    batch_size: int = 8,
    max_length: int | None = 256,
) -> torch.Tensor:
    """Per-feature maximum (or ``quantile``, e.g. 0.99) of the SAE activation over ``texts``, ``[k]``.

    One capture pass at the SAE's site (stopping after it); the full ``sae.encode`` is used, so the
    values are exact for every SAE architecture. Padding and special tokens (BOS/EOS/pad, whose
    activations are often outliers) are excluded.
    """
    from tl_reasoning.loading.saes import check_sae_compatible
    from tl_reasoning.plugins import backend_for

    feats = [int(features)] if isinstance(features, int) else [int(f) for f in features]
    d_sae = int(sae.cfg.d_sae)
    bad = [f for f in feats if not 0 <= f < d_sae]
    if bad or not feats:
        raise ValueError(f"feature index {bad[0]} is out of range for an SAE with d_sae={d_sae}" if bad
                         else "estimate_f_max needs at least one feature")
    if quantile is not None and not 0.0 < quantile <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}")
    backend = backend_for(model)
    site = check_sae_compatible(model, sae, site)
    special = torch.tensor(sorted(backend.special_token_ids), dtype=torch.long)
    index = torch.tensor(feats, dtype=torch.long)
    best = torch.full((len(feats),), float("-inf"))
    values: list[torch.Tensor] = []
    batch: list[str] = []
    seen = 0

    def flush() -> None:
        nonlocal best, seen
        tokens = backend.tokenize(batch, max_length=max_length)
        resid = backend.capture(tokens.input_ids, [site], tokens.attention_mask)[site]
        with torch.no_grad():
            acts = sae.encode(resid.to(sae.W_enc.device, sae.W_enc.dtype))
        acts = acts.index_select(-1, index.to(acts.device)).float().cpu()  # [B, T, k]
        ids = tokens.input_ids.cpu()
        keep = tokens.attention_mask.cpu().bool() & ~torch.isin(ids, special)
        picked = acts[keep]  # [n, k]
        seen += picked.shape[0]
        if picked.numel():
            best = torch.maximum(best, picked.max(dim=0).values)
            if quantile is not None:
                values.append(picked)
        batch.clear()

    for text in texts:
        batch.append(text)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    if seen == 0:
        raise ValueError("estimate_f_max saw no text tokens; pass a non-empty corpus")
    if quantile is None or quantile == 1.0:
        return best
    return torch.quantile(torch.cat(values), quantile, dim=0)


def f_max_from_stats(stats: Any, features: int | Sequence[int], key: str | None = None, *, sae: Any = None,
                     sae_name: str | None = None) -> torch.Tensor:
    """Per-feature maximum activations ``[k]`` taken from ReasonScore statistics.

    ``stats`` is a :class:`~tl_reasoning.stats.FeatureStats`, a ``[d_sae]`` tensor, a
    ``stats.safetensors`` file (as written by ``tl-reasoning score``) or the directory holding one.
    From ``FeatureStats`` the value read is ``stats.f_max(raw=True)`` — the ``max_activation`` tensor
    divided by the ``‖d_i‖`` it was folded with (``decoder_norm``), i.e. in the units of ``sae.encode``,
    the units steering multiplies ``d_i = decode(e_i) − decode(0)`` by. Statistics files written with
    the old ``‖W_dec,i‖`` fold are refused (:class:`~tl_reasoning.stats.StatsUnitsError`: rescore).
    Other safetensors files are searched for ``key`` or the first of :data:`STATS_MAX_KEYS`
    (``max_activation``, divided by ``decoder_norm`` if present, then ``max``). Raises ``ValueError``
    naming what was found when there is no maximum.

    ``sae`` (optional, ``sae_name`` its spec for messages): the SAE that will be steered. Statistics
    recording another SAE (decoder hash, width) raise
    :class:`~tl_reasoning.stats_checks.StatsSaeMismatchError`; a bare table must have ``d_sae`` rows.
    """
    feats = [int(features)] if isinstance(features, int) else [int(f) for f in features]
    table = _max_tensor(stats, key, sae, sae_name)
    if table.ndim != 1:
        raise ValueError(f"the per-feature maximum must be a [d_sae] tensor, got shape {tuple(table.shape)}")
    if sae is not None and hasattr(sae, "cfg") and table.shape[0] != int(sae.cfg.d_sae):
        from tl_reasoning.stats_checks import StatsSaeMismatchError

        raise StatsSaeMismatchError(
            f"the statistics hold {table.shape[0]} features but SAE {sae_name or ''} has d_sae={int(sae.cfg.d_sae)}; "
            "pass the statistics of this SAE (`tl-reasoning score --sae ... --out DIR`) or give --f-max")
    if not bool(torch.isfinite(table.index_select(0, torch.tensor([f for f in feats if 0 <= f < table.shape[0]],
                                                                  dtype=torch.long))).all()):
        raise ValueError("the statistics hold a NaN or infinite f_max for these features; rescore them or give --f-max")
    bad = [f for f in feats if not 0 <= f < table.shape[0]]
    if bad:
        raise ValueError(f"feature index {bad[0]} is out of range for statistics of {table.shape[0]} features")
    return table.float().index_select(0, torch.tensor(feats, dtype=torch.long)).clone()


def _max_tensor(stats: Any, key: str | None, sae: Any = None, sae_name: str | None = None) -> torch.Tensor:
    if isinstance(stats, torch.Tensor):
        return stats.detach().cpu()
    if isinstance(stats, str | os.PathLike):
        return _from_file(Path(stats), key, sae, sae_name)
    if sae is not None and isinstance(getattr(stats, "meta", None), dict):
        from tl_reasoning.stats_checks import check_sae_matches

        check_sae_matches(stats.meta, sae, "these statistics", sae_name)
    if key is None and callable(getattr(stats, "f_max", None)):
        return stats.f_max(raw=True).detach().cpu()
    keys = (key,) if key else STATS_MAX_KEYS
    extra = getattr(stats, "extra", None) or {}
    for name in keys:
        short = name.removeprefix("extra.")
        value = getattr(stats, name, None) if name == short else None
        if value is None and isinstance(extra, dict):
            value = extra.get(short)
        if isinstance(value, torch.Tensor):
            return value.detach().cpu()
    raise ValueError(
        f"these statistics hold no per-feature maximum activation (looked for {', '.join(keys)}); recompute them "
        "with maxima, pass f_max= or estimate it with tl_reasoning.estimate_f_max"
    )


def _from_file(path: Path, key: str | None, sae: Any = None, sae_name: str | None = None) -> torch.Tensor:
    from safetensors.torch import load_file

    file = path / "stats.safetensors" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"no ReasonScore statistics at {file}; pass the directory written by "
                                "`tl-reasoning score` (it holds stats.safetensors) or give --f-max")
    if key is None:
        from tl_reasoning.stats import FeatureStats, StatsFileError, StatsUnitsError

        try:
            loaded = FeatureStats.load(file)
        except StatsUnitsError:
            raise
        except StatsFileError as exc:
            if "not tl-reasoning statistics" not in str(exc):
                raise  # corrupted, edited or not safetensors at all
            loaded = None  # a plain safetensors file: look for the keys below
        if loaded is not None:
            if sae is not None:
                from tl_reasoning.stats_checks import check_sae_matches

                check_sae_matches(loaded.meta, sae, f"the statistics {file}", sae_name)
            return loaded.f_max(raw=True).detach().cpu()
    tensors = load_file(str(file))
    for name in (key,) if key else STATS_MAX_KEYS:
        if name in tensors:
            table = tensors[name]
            if name == "max_activation" and "decoder_norm" in tensors:
                table = table / tensors["decoder_norm"].clamp(min=1e-12)
            return table
    raise ValueError(
        f"{file} has no per-feature maximum activation (looked for {', '.join((key,) if key else STATS_MAX_KEYS)}; "
        f"it has {', '.join(sorted(tensors)) or 'nothing'}); pass f_max (--f-max) or recompute the statistics"
    )
