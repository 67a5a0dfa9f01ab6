"""Steering vectors in Neuronpedia's vector format: one ``NPVector.new`` call's arguments per vector.

``vectors.json`` is a list of ``{"label", "model_id", "layer_num", "hook_type", "vector",
"default_steer_strength"}``; upload one with ``neuronpedia.np_vector.NPVector.new(**record)``.
Neuronpedia adds ``strength · vector`` at ``blocks.<layer_num>.<hook_type>`` (resid_pre or
resid_post only). From features: the vector is ``d_i = decode(e_i) − decode(0)``
(:func:`~tl_reasoning.units.unit_directions`) and the default strength ``γ · f_max`` (raw
``sae.encode`` units, from the scoring statistics), so the default reproduces tl-reasoning's
additive steering (paper Eq. 7) at γ. From a saved steering spec (``steer --save``): each additive
steering becomes one vector whose ``strength · vector`` is exactly what it adds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tl_reasoning.neuronpedia.output import NeuronpediaExport

if TYPE_CHECKING:
    import torch

__all__ = ["export_neuronpedia_vectors", "hook_of"]

_SITE = re.compile(r"^blocks\.(\d+)\.(hook_resid_pre|hook_resid_post)$")
_LABEL_CHARS = 120


def hook_of(site: str) -> tuple[int, str]:
    """``(layer, hook type)`` of a residual site such as ``blocks.3.hook_resid_post``."""
    match = _SITE.match(str(site))
    if not match:
        raise ValueError(f"Neuronpedia vectors attach at blocks.<layer>.hook_resid_pre or hook_resid_post, not "
                         f"{site!r}; export the features of a residual-stream SAE")
    return int(match.group(1)), match.group(2)


def export_neuronpedia_vectors(
    sae: Any,
    out_dir: str | os.PathLike[str],
    *,
    features: Sequence[int] | None = None,
    scores: Any = None,
    top: int = 20,
    spec: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    strength: float = 2.0,
    model_id: str | None = None,
    explanations: Any = None,
    overwrite: bool = False,
    sae_name: str | None = None,
) -> NeuronpediaExport:
    """Write steering vectors for Neuronpedia: the chosen features' directions, or a saved spec's steerings.

    Features: ``features``, else the ``top`` of ``scores`` by ReasonScore; with statistics in
    ``scores`` each vector's default strength is ``strength · f_max`` (else ``None``: Neuronpedia's
    own default). ``spec``: a ``steer --save`` spec instead (``sae`` may then be ``None``: the spec
    names its SAE). ``model_id``: the Neuronpedia model id (default: from the SAE's Neuronpedia id).
    ``explanations`` add each feature's description to its label.
    """
    from tl_reasoning.dashboard.descriptions import load_explanations
    from tl_reasoning.neuronpedia.ids import neuronpedia_id
    from tl_reasoning.neuronpedia.output import prepare_dir, write_json, write_manifest
    from tl_reasoning.neuronpedia.validate import check_vectors

    found = neuronpedia_id(sae) if sae is not None else None
    model_id = model_id or (found.split("/")[0] if found else None)
    if not model_id:
        raise ValueError("the SAE has no Neuronpedia id to take the model id from; pass --model-id (the model's "
                         "id on Neuronpedia, e.g. --model-id gpt2-small)")
    if spec is None and sae is None:
        raise ValueError("vectors need an SAE (with features or scores) or a saved steering spec; pass --sae or --spec")
    described = load_explanations(explanations, sae)
    out, previous = prepare_dir(out_dir, overwrite)
    if spec is not None:
        records, provenance = _from_spec(spec, sae, model_id)
    else:
        records, provenance = _from_features(sae, features, scores, top, strength, model_id, described, sae_name)
    validated = check_vectors(records)
    files = [write_json(out / "vectors.json", records).name]
    manifest = {"format": "neuronpedia-vectors", "model_id": model_id, "neuronpedia_id": found,
                "vectors": provenance, "validated_with": validated,
                "upload": "neuronpedia.np_vector.NPVector.new(**record) for each record of vectors.json"}
    return write_manifest(out, files, manifest, previous)


def _label(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _LABEL_CHARS else text[:_LABEL_CHARS - 1] + "…"


def _record(label: str, model_id: str, site: str, vector: torch.Tensor, steer: float | None) -> dict[str, Any]:
    layer, hook = hook_of(site)
    return {"label": _label(label), "model_id": model_id, "layer_num": layer, "hook_type": hook,
            "vector": [float(v) for v in vector.detach().float().cpu().reshape(-1)],
            "default_steer_strength": None if steer is None else float(steer)}


def _from_features(sae: Any, features: Sequence[int] | None, scores: Any, top: int, strength: float, model_id: str,
                   described: Mapping[int, Any], sae_name: str | None) -> tuple[list[dict[str, Any]], list[dict]]:
    import torch

    from tl_reasoning.dashboard.build import chosen_features, load_checked_scores
    from tl_reasoning.loading.saes import sae_site
    from tl_reasoning.units import unit_directions

    stats = None
    if scores is not None:
        frame, _, stats = load_checked_scores(scores, sae, sae_name)
        features = chosen_features(frame, features, top)
    if not features:
        raise ValueError("no features to export; pass features (--features) or scores (--scores) with top >= 1")
    chosen = [int(f) for f in features]
    f_max = None
    if stats is not None and stats.max_activation is not None:
        f_max = stats.f_max(raw=True)[torch.tensor(chosen)].tolist()
    directions = unit_directions(sae, chosen)
    site = sae_site(sae)
    records, provenance = [], []
    for row, f in enumerate(chosen):
        text = (described.get(f) or {}).get("description")
        steer = strength * f_max[row] if f_max is not None else None
        records.append(_record(f"feature {f}" + (f": {text}" if text else ""), model_id, site, directions[row], steer))
        provenance.append({"feature": f, "strength": strength if steer is not None else None,
                           "f_max": None if f_max is None else f_max[row]})
    return records, provenance


def _from_spec(spec: Any, sae: Any, model_id: str) -> tuple[list[dict[str, Any]], list[dict]]:
    """One record per additive steering of the spec: ``strength · vector`` = what it adds at every position."""
    import torch

    from tl_reasoning.interventions.common import coefficients
    from tl_reasoning.steering.saved import load_steering
    from tl_reasoning.units import unit_directions

    records, provenance = [], []
    for index, item in enumerate(load_steering(spec, sae=sae)):
        recipe = dict(item.recipe or {})
        if recipe.get("mode") != "add":
            raise ValueError(f"steering {index} of the spec uses mode {recipe.get('mode')!r}; Neuronpedia vectors are "
                             "added (mode 'add' only); save a spec with --mode add")
        if recipe["kind"] == "feature":
            feats = [int(f) for f in recipe["features"]]
            coeff = coefficients(recipe["strength"], recipe["f_max"], len(feats)).reshape(-1)
            if coeff.numel() != len(feats):
                raise ValueError(f"steering {index} of the spec has one strength per prompt; save one strength per "
                                 "feature to export it")
            dirs = unit_directions(recipe["sae"], feats)
            vector, steer = (dirs[0], float(coeff[0])) if len(feats) == 1 else (coeff.float() @ dirs, 1.0)
            label = f"features {', '.join(map(str, feats))}"
        else:
            s = torch.as_tensor(recipe["strength"], dtype=torch.float32).reshape(-1)
            if s.numel() != 1:
                raise ValueError(f"steering {index} of the spec has one strength per prompt; save one strength to "
                                 "export it")
            vector, steer, label = recipe["vector"], float(s[0]), f"direction {index}"
        caveats = [c for c, on in (("positions " + str(item.positions), str(item.positions) != "all"),
                                   ("preserve_norm", item.preserve_norm)) if on]
        records.append(_record(f"{label} (spec steering {index})", model_id, item.site, vector, steer))
        provenance.append({"steering": index, "kind": recipe["kind"], "site": item.site,
                           "not_reproduced_by_neuronpedia": caveats})
    return records, provenance
