"""Checks on statistics files and score folders: errors, configuration and unit-convention checks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from tl_reasoning.units import UNITS

__all__ = ["RESCORE", "StatsFileError", "StatsMismatchError", "StatsUnitsError", "check_config",
           "check_score_folder", "check_units"]

#: How to replace statistics written under another unit convention.
RESCORE = "rescore: run `tl-reasoning score ... --out DIR` again (--overwrite to replace this folder)"


class StatsFileError(ValueError):
    """A statistics file that cannot be used: missing metadata, corrupted, wrong format."""


class StatsMismatchError(ValueError):
    """Statistics computed under another configuration than the one they are combined with."""


class StatsUnitsError(StatsFileError):
    """Statistics or scores written under another unit convention than :data:`~tl_reasoning.units.UNITS`."""


def check_units(found: Any, what: str) -> None:
    """Raise :class:`StatsUnitsError` unless ``found`` (a recorded ``units`` field) is :data:`UNITS`."""
    if found == UNITS:
        return
    if found is None:
        raise StatsUnitsError(f"{what} was written with the old unit convention (activations × ‖W_dec,i‖, "
                              "no units recorded; wrong for TopK SAEs with rescale_acts_by_decoder_norm); "
                              f"{RESCORE}")
    raise StatsUnitsError(f"{what} uses units {found!r}, this version {UNITS!r}; {RESCORE}")


def check_score_folder(path: str | Path) -> None:
    """Refuse a ``tl-reasoning score`` folder (or its ``scores.csv``) whose ``meta.json`` has other units.

    A folder without ``meta.json`` (a bare table) is not checked.
    """
    root = Path(path)
    meta_path = (root if root.is_dir() else root.parent) / "meta.json"
    if not meta_path.is_file():
        return
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StatsFileError(f"{meta_path} is not valid JSON ({exc.msg}); {RESCORE}") from None
    check_units(meta.get("units") if isinstance(meta, dict) else None, str(meta_path))


def check_config(found: Mapping[str, Any], expected: Mapping[str, Any], what: str = "statistics") -> None:
    """Raise :class:`StatsMismatchError` naming the first key whose values differ."""
    found, expected = _jsonable(found), _jsonable(expected)
    for key in sorted(set(found) | set(expected)):
        if found.get(key) != expected.get(key):
            raise StatsMismatchError(
                f"{what} was computed with {key}={_short(found.get(key))}, but this run uses "
                f"{key}={_short(expected.get(key))}; use the same settings, or another output directory "
                "(--overwrite starts afresh)"
            )


def check_same(a: Any, b: Any, optional: tuple[str, ...], same: tuple[str, ...]) -> None:
    """Raise :class:`StatsMismatchError` unless two :class:`FeatureStats` can merge."""
    if a.words != b.words:
        raise StatsMismatchError(f"cannot merge statistics over different words: {a.words} vs {b.words}")
    if a.n_features != b.n_features:
        raise StatsMismatchError(f"cannot merge statistics of {a.n_features} and {b.n_features} features")
    check_config(b.meta.get("config", {}), a.meta.get("config", {}), what="a shard")
    for name in (*optional, *same):
        x, y = getattr(a, name), getattr(b, name)
        if (x is None) != (y is None):
            raise StatsMismatchError(f"cannot merge: {name} is collected in one shard but not the other")
    for name in same:
        x, y = getattr(a, name), getattr(b, name)
        if x is not None and not torch.equal(x, y):
            raise StatsMismatchError(f"cannot merge: the shards have different {name}")


def checksum(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes (sorted by name)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
