"""Neuronpedia ids of an SAE and the URL of a feature's page.

sae-lens fills ``sae.cfg.metadata.neuronpedia_id`` (``"model/source"``, e.g. ``"gpt2-small/0-res-jb"``)
from the ``neuronpedia:`` entry of its ``pretrained_saes.yaml`` when an SAE is loaded from a release;
SAEs loaded from a directory keep it when their ``cfg.json`` metadata holds it. SAEs trained here
(the organism's) have none: no link is made and exports need the ids given explicitly.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

__all__ = ["NEURONPEDIA_URL", "feature_url", "neuronpedia_id", "resolve_ids", "split_source"]

NEURONPEDIA_URL = "https://www.neuronpedia.org"

_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_SOURCE = re.compile(r"^(\d+)-([A-Za-z0-9][A-Za-z0-9_.\-]*)$")


def neuronpedia_id(sae: Any) -> str | None:
    """``"model/source"`` from the SAE's sae-lens metadata, or ``None`` when it has none (or a malformed one)."""
    meta = getattr(getattr(sae, "cfg", None), "metadata", None)
    value = getattr(meta, "neuronpedia_id", None) if meta is not None else None
    if value is None and isinstance(meta, dict):
        value = meta.get("neuronpedia_id")
    if not isinstance(value, str):
        return None
    parts = value.strip().strip("/").split("/")
    return "/".join(parts) if len(parts) == 2 and all(_PART.match(p) for p in parts) else None


def feature_url(sae_or_id: Any, feature: int) -> str | None:
    """``https://www.neuronpedia.org/{model}/{source}/{feature}``, or ``None`` without a Neuronpedia id."""
    np_id = sae_or_id if isinstance(sae_or_id, str) else neuronpedia_id(sae_or_id)
    if not np_id:
        return None
    if int(feature) < 0:
        raise ValueError(f"feature index must be >= 0, got {feature}")
    return f"{NEURONPEDIA_URL}/{quote(np_id.strip('/'), safe='/')}/{int(feature)}"


def split_source(source_id: str) -> tuple[int, str]:
    """``(layer, source set)`` of a Neuronpedia source id such as ``"0-res-jb"`` (ids are ``<layer>-<set>``)."""
    match = _SOURCE.match(source_id or "")
    if not match:
        raise ValueError(f"Neuronpedia source id {source_id!r} is not '<layer>-<set>' (e.g. '3-tlr-res'); "
                         "pass --source-id in that form")
    return int(match.group(1)), match.group(2)


def resolve_ids(sae: Any, model_id: str | None = None, source_id: str | None = None) -> tuple[str, str]:
    """``(model id, source id)``: those given, else the SAE's Neuronpedia id; ``ValueError`` when neither."""
    found = neuronpedia_id(sae)
    known_model, known_source = found.split("/") if found else (None, None)
    model_id, source_id = model_id or known_model, source_id or known_source
    if not model_id or not source_id:
        raise ValueError("the SAE has no Neuronpedia id (sae.cfg.metadata.neuronpedia_id); pass --model-id and "
                         "--source-id (e.g. --model-id organism --source-id 3-tlr-res)")
    if not _PART.match(model_id):
        raise ValueError(f"Neuronpedia model id {model_id!r} may hold only letters, digits, '-', '_' and '.'; "
                         "pass another --model-id")
    split_source(source_id)
    return model_id, source_id
