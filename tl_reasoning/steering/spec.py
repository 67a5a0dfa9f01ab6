"""A steering configuration: one edit at one site, the positions it touches, and what it means.

:func:`feature_steering` turns "features F of this SAE, mode M, strength γ, f_max" into a
:class:`Steering` through the intervention registry (so plugin interventions work the same way);
:func:`tl_reasoning.directions.direction_steering` does the same for SAE-free directions. Several
``Steering`` objects (several SAEs, sites, modes) are installed together by
:func:`tl_reasoning.steering.add_steering`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from tl_reasoning.backends.base import EditFn
from tl_reasoning.positions import Positions

__all__ = ["MODES_WITHOUT_F_MAX", "Steering", "feature_steering", "intervention_factory"]

#: Built-in modes that do not use f_max (nor the strength).
MODES_WITHOUT_F_MAX: frozenset[str] = frozenset({"ablate"})


@dataclass(frozen=True)
class Steering:
    """One edit function at one site, restricted to ``positions``, optionally norm-preserving."""

    site: str
    edit: EditFn
    positions: Positions = field(default_factory=Positions)
    preserve_norm: bool = False
    d_in: int | None = None
    """Width the edit expects (checked against the model when installed)."""
    info: Mapping[str, Any] = field(default_factory=dict)
    """Description for reports and JSON: mode, features, strengths, f_max, ..."""
    recipe: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)
    """The arguments that rebuild this edit (``kind``, the SAE object or the vector, strengths, f_max used,
    ...), kept so :func:`tl_reasoning.save_steering` can write it as a spec; ``None`` for hand-made edits.
    Not pickled: a steering shipped into a (remote) trace carries plain tensors only, never the SAE."""

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "recipe": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)


def intervention_factory(mode: str) -> Any:
    """The registered intervention factory called ``mode``; ``ValueError`` listing the known ones."""
    from tl_reasoning.plugins import get_registry

    registry = get_registry("intervention")
    if mode not in registry:
        raise ValueError(f"unknown steering mode {mode!r}; registered modes: {registry.known()} "
                         "(plugins add more; see `tl-reasoning plugins`)")
    return registry.get(mode).obj


def feature_steering(
    sae: Any,
    features: int | Sequence[int],
    *,
    strength: float | Sequence[float] | torch.Tensor = 2.0,
    mode: str = "add",
    f_max: float | Sequence[float] | torch.Tensor | None = None,
    stats: Any = None,
    positions: str | tuple[int, int | None] | Positions = "all",
    site: str | None = None,
    preserve_norm: bool = False,
    **options: Any,
) -> Steering:
    """Steer ``features`` of ``sae`` at its hook site (or ``site``).

    :param strength: γ — one value, one per feature ``[k]``, or one row per batch row ``[batch, k]``.
    :param mode: a registered intervention: ``add`` (paper Eq. 7), ``clamp``, ``cap``, ``ablate``, ...
    :param f_max: maximum activation per feature (one value or ``[k]``); else taken from ``stats``.
    :param stats: ReasonScore statistics holding a per-feature maximum (tensor, ``FeatureStats``,
        ``stats.safetensors`` or its directory; see :func:`~tl_reasoning.steering.fmax.f_max_from_stats`).
    :param positions: ``all``, ``prompt``, ``generated``, ``thinking`` or a window ``"START:END"``.
    :param preserve_norm: rescale each edited token vector to its original norm.
    :param options: passed to the intervention factory (``only_above=True`` for ``cap``,
        ``how="direction"`` for ``ablate``). A factory with a ``latents`` parameter receives an exact
        :class:`~tl_reasoning.interventions.latents.LatentReader` of the features (TopK included); one
        whose ``uses_f_max`` attribute is ``False`` is called without requiring ``f_max``.
    """
    from tl_reasoning.interventions import ablate, clamp
    from tl_reasoning.interventions.latents import LatentReader
    from tl_reasoning.loading.saes import sae_site
    from tl_reasoning.sae_weights import SAEWeights
    from tl_reasoning.steering.fmax import f_max_from_stats

    feats = [int(features)] if isinstance(features, int) else [int(f) for f in features]
    if not feats:
        raise ValueError("steering needs at least one feature")
    rule = Positions.parse(positions)
    factory = intervention_factory(mode)
    weights = SAEWeights.from_sae(sae, feats)  # raises for out-of-range features
    if f_max is None and stats is not None:
        f_max = f_max_from_stats(stats, feats, sae=sae)
    uses_f_max = getattr(factory, "uses_f_max", mode not in MODES_WITHOUT_F_MAX)
    if f_max is None and uses_f_max:
        raise ValueError(
            f"mode {mode!r} needs f_max for features {feats}: pass f_max=<value or one per feature>, "
            "stats=<ReasonScore statistics with per-feature maxima>, or estimate it with "
            "tl_reasoning.estimate_f_max(model, sae, texts, features)"
        )
    wants_latents = factory is clamp or (factory is ablate and options.get("how", "latent") == "latent") or (
        factory is not ablate and _accepts(factory, "latents"))
    if wants_latents and "latents" not in options:
        options["latents"] = LatentReader.from_sae(sae, feats)  # exact f_i(x), TopK included
    _check_finite("strength", strength)
    _check_finite("f_max", f_max)
    edit = factory(weights, feats, strength, f_max, **options)
    info = {
        "mode": mode, "features": feats, "strength": _plain(strength), "f_max": _plain(f_max),
        "positions": str(rule), **{k: _plain(v) for k, v in options.items() if k != "latents"},
    }
    recipe = {"kind": "feature", "sae": sae, "features": feats, "strength": _plain(strength), "mode": mode,
              "f_max": _plain(f_max), "positions": str(rule), "preserve_norm": bool(preserve_norm),
              "options": {k: v for k, v in options.items() if k != "latents"}}
    return Steering(site or sae_site(sae), edit, rule, preserve_norm, int(sae.cfg.d_in), info, recipe)


def _check_finite(name: str, value: Any) -> None:
    """``ValueError`` when a number (or any element of a list/tensor) is NaN or infinite."""
    if value is None:
        return
    try:
        tensor = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return  # not numeric: the intervention reports it
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} must be finite numbers, got {_plain(value)}; NaN and infinity are refused "
                         "(for f_max from statistics, rescore or pass f_max= explicitly)")


def _accepts(factory: Any, name: str) -> bool:
    """Does ``factory`` take a keyword ``name`` (plugin interventions that want exact latents)?"""
    import inspect

    try:
        return name in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    """Tensors and numbers as JSON-friendly Python values."""
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value
