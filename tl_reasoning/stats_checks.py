"""Checks on statistics files and score folders: errors, configuration and unit-convention checks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from tl_reasoning.units import UNITS

__all__ = ["CHECKSUM_SCOPE", "RESCORE", "StatsFileError", "StatsMismatchError", "StatsUnitsError", "check_config",
           "check_score_folder", "check_units", "read_score_meta"]

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
    found = read_score_meta(path)
    if found is not None:
        meta, meta_path = found
        check_units(meta.get("units"), str(meta_path))


def read_score_meta(path: str | Path) -> tuple[dict, Path] | None:
    """``(meta, its path)`` of a score folder (or of the folder of its ``scores.csv``); ``None`` without one."""
    root = Path(path)
    meta_path = (root if root.is_dir() else root.parent) / "meta.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StatsFileError(f"{meta_path} is not valid JSON ({exc.msg}); {RESCORE}") from None
    return (meta if isinstance(meta, dict) else {}), meta_path


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


#: Recorded in the header of statistics files whose checksum covers the header as well as the tensors.
CHECKSUM_SCOPE = "tensors+header"


def checksum(tensors: Mapping[str, torch.Tensor], header: Mapping[str, Any] | None = None) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes (sorted by name), then ``header``.

    ``header`` (the file's JSON header without the checksum itself) is hashed as canonical JSON
    (sorted keys), so editing a word, a setting or the progress in a file is detected.
    """
    digest = hashlib.sha256()
    if header is not None:
        canonical = json.dumps(_jsonable(header), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        digest.update(b"header:" + canonical.encode() + b";")
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


class StatsSaeMismatchError(StatsMismatchError):
    """Statistics or scores computed for another SAE than the one they are used with."""


class NonFiniteActivationsError(ValueError):
    """NaN or infinite residuals or SAE codes met while collecting statistics."""


def recorded_sae(meta: Mapping[str, Any] | None) -> tuple[dict[str, Any], str | None]:
    """``(identity, name)`` of the SAE recorded in statistics / ``meta.json`` metadata (``{}``, None if none)."""
    meta = meta if isinstance(meta, Mapping) else {}
    config = meta.get("config") if isinstance(meta.get("config"), Mapping) else {}
    sources = meta.get("sources") if isinstance(meta.get("sources"), Mapping) else {}
    identity = config.get("sae") if isinstance(config.get("sae"), Mapping) else {}
    name = sources.get("sae")
    if name and sources.get("sae_id"):
        name = f"{name}/{sources['sae_id']}"
    return dict(identity), (str(name) if name else None)


def check_sae_matches(meta: Mapping[str, Any] | None, sae: Any, what: str, sae_name: str | None = None,
                      fix: str | None = None) -> None:
    """Raise :class:`StatsSaeMismatchError` if ``meta`` records another SAE than ``sae``.

    Compares width, input size and the hash of sampled decoder rows recorded by
    :func:`~tl_reasoning.scoring.collect.sae_identity`. Metadata without an SAE identity (a bare
    table, hand-made statistics) is not checked.
    """
    identity, recorded_name = recorded_sae(meta)
    if not identity or not hasattr(sae, "cfg") or not hasattr(sae, "W_dec"):
        return
    from tl_reasoning.scoring.collect import sae_identity

    current = sae_identity(sae)
    for key in ("d_sae", "d_in", "w_dec_sample_sha256"):
        if key in identity and identity[key] != current.get(key):
            theirs = recorded_name or f"an SAE with {key}={identity[key]}"
            mine = sae_name or f"the SAE given ({key}={current.get(key)})"
            raise StatsSaeMismatchError(
                f"{what} were computed for SAE {theirs}, not for {mine} (decoder {key} differs); "
                + (fix or f"pass the SAE they were scored with, or rescore with `tl-reasoning score --sae "
                   f"{sae_name or 'SAE'} ... --out DIR`"))


class DegenerateStatsError(ValueError):
    """Statistics from which no ReasonScore is meaningful (no tokens, no window tokens, no other tokens)."""


def check_meaningful(stats: Any) -> None:
    """Raise :class:`DegenerateStatsError` when every ReasonScore would be 0 or undefined."""
    docs, tokens = stats.docs_seen, stats.tokens_seen
    if tokens == 0:
        raise DegenerateStatsError(
            "no documents in the corpus (empty, or only blank lines); check --data and --text-field" if docs == 0 else
            f"the {docs} documents hold no tokens to count (empty or whitespace-only texts); check --data and "
            "--text-field")
    if docs and stats.meta.get("blank_docs") == docs:
        raise DegenerateStatsError(f"all {docs} documents are empty or whitespace-only; check --data and --text-field")
    if int(stats.count_window) == 0:
        words = ", ".join(repr(w) for w in stats.words[:5]) + (", ..." if len(stats.words) > 5 else "")
        raise DegenerateStatsError(
            f"no vocabulary word ({words}) occurs in the {docs} documents ({tokens} tokens), so every ReasonScore "
            "would be 0; use a corpus with reasoning text or pass --vocab with words that occur in it")
    if int(stats.count_other) == 0:
        raise DegenerateStatsError(
            f"every one of the {tokens} counted tokens lies inside a reasoning-word window, so there is nothing to "
            "compare with; use a smaller --window, longer documents or a larger --context-size")
