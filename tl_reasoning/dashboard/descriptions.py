"""Feature descriptions (from ``tl-reasoning interpret``) for the dashboard and the Neuronpedia export.

:func:`load_explanations` reads an ``interpret`` output folder, its ``explanations.json``
(``"schema": "tl-reasoning/explanations/v1"``) or a dict ``{feature: description or dict}`` into
one record per feature; :func:`description_html` renders a record as an escaped block (the text
comes from an LLM, so every field is treated as untrusted).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tl_reasoning.autointerp.records import EXPLANATIONS_SCHEMA
from tl_reasoning.views import esc

__all__ = ["EXPLANATIONS_SCHEMA", "description_html", "load_explanations"]

_FILE = "explanations.json"
_FIELDS = ("description", "labels", "confidence", "group", "model", "explainer", "parsed")


def load_explanations(source: str | os.PathLike[str] | Mapping[Any, Any] | None,
                      sae: Any = None) -> dict[int, dict[str, Any]]:
    """``{feature: {description, labels, confidence, group, model, explainer, parsed}}`` (missing fields None).

    ``source``: an ``interpret`` output folder, its ``explanations.json``, or a dict mapping a
    feature to its description (a string) or to a dict with those fields. ``None``: no descriptions.
    ``sae``: refuse a file whose recorded decoder hash (``sae_hash``) is another SAE's.
    """
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return {_feature(k, "the explanations dict"): _record(v, {}, "the explanations dict") for k, v in source.items()}
    path = Path(source).expanduser()
    if path.is_dir():
        path = path / _FILE
    if not path.is_file():
        raise FileNotFoundError(f"no explanations at {path}; pass the folder written by `tl-reasoning interpret` "
                                f"or its {_FILE}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); pass the {_FILE} written by `tl-reasoning interpret`"
                         ) from None
    found = data.get("schema") if isinstance(data, dict) else type(data).__name__
    if found != EXPLANATIONS_SCHEMA:
        raise ValueError(f"{path} is not a tl-reasoning explanations file (schema {found!r}, expected "
                         f"{EXPLANATIONS_SCHEMA!r}); pass the {_FILE} written by `tl-reasoning interpret`")
    entries = data.get("features")
    if not isinstance(entries, list):
        raise ValueError(f"{path} has no 'features' list; pass the {_FILE} written by `tl-reasoning interpret`")
    _check_sae(data.get("sae_hash"), sae, path)
    shared = {"model": data.get("model"), "explainer": data.get("explainer")}
    out: dict[int, dict[str, Any]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or "feature" not in entry:
            raise ValueError(f"{path}: an entry of 'features' is not an object with a 'feature'; pass the {_FILE} "
                             "written by `tl-reasoning interpret`")
        out[_feature(entry["feature"], str(path))] = _record(entry, shared, str(path))
    return out


def _check_sae(recorded: Any, sae: Any, path: Path) -> None:
    if not isinstance(recorded, str) or sae is None or not hasattr(sae, "W_dec"):
        return
    from tl_reasoning.scoring.collect import sae_identity

    if sae_identity(sae).get("w_dec_sample_sha256") != recorded:
        raise ValueError(f"{path} describes the features of another SAE (decoder hash differs); pass the "
                         "`tl-reasoning interpret` folder made with this SAE")


def _feature(key: Any, where: str) -> int:
    try:
        value = int(key)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: feature {key!r} is not a feature index; use whole numbers >= 0") from None
    if value < 0 or str(key).strip() not in (str(value), f"{value}.0"):
        raise ValueError(f"{where}: feature {key!r} is not a feature index; use whole numbers >= 0")
    return value


def _record(value: Any, shared: Mapping[str, Any], where: str) -> dict[str, Any]:
    if isinstance(value, str):
        value = {"description": value}
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: a description must be a string or an object, got {type(value).__name__}")
    record = {key: value.get(key, shared.get(key)) for key in _FIELDS}
    labels = record["labels"]
    record["labels"] = [str(x) for x in labels] if isinstance(labels, (list, tuple)) else ([] if labels is None
                                                                                           else [str(labels)])
    confidence = record["confidence"]
    if confidence is not None and not (isinstance(confidence, (int, float)) and math.isfinite(confidence)):
        confidence = None
    record["confidence"] = confidence
    return record


def description_html(record: Mapping[str, Any]) -> str:
    """A ``<div class='tlr-description'>``: description, labels, confidence, behaviour group, explainer (all escaped)."""
    text = record.get("description")
    parts = [f"<p class='tlr-description-text'>{esc(text)}</p>" if text else
             "<p class='tlr-meta'>the explainer gave no description</p>"]
    facts = []
    if record.get("labels"):
        facts.append("labels " + ", ".join(f"<span class='tlr-label'>{esc(x)}</span>" for x in record["labels"]))
    if record.get("confidence") is not None:
        facts.append(f"confidence <span class='tlr-confidence'>{float(record['confidence']):.2f}</span>")
    if record.get("group"):
        facts.append(f"group <span class='tlr-group'>{esc(record['group'])}</span>")
    explainer = " ".join(str(x) for x in (record.get("explainer"), record.get("model")) if x)
    if explainer:
        facts.append(f"explained by <span class='tlr-explainer'>{esc(explainer)}</span>")
    if record.get("parsed") is False:
        facts.append("the explainer's answer was not in the expected form")
    if facts:
        parts.append(f"<p class='tlr-meta'>{' · '.join(facts)}</p>")
    return f"<div class='tlr-description'><h3>Description</h3>{''.join(parts)}</div>"
