"""Checks of exported records: our own structural checks, then the ``neuronpedia`` package's models.

The structural checks always run (tokens and values of equal length, finite numbers, the keys
Neuronpedia's importer reads). When the optional ``neuronpedia`` package is installed
(``pip install tl-reasoning[neuronpedia]``) every feature, activation, explanation and vector is
also built with its types (``NPFeature``, ``NPActivation``, ``Activation``, ``Feature``/``Logit``,
``Explanation``, ``NPVector``; the vector's hook type against ``VALID_HOOK_TYPES``). Nothing is sent anywhere.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["BATCH_FEATURE_KEYS", "check_batch", "check_vectors", "neuronpedia_version"]

#: Keys Neuronpedia's converter (convert-saedashboard-to-neuronpedia-export.py) reads from each feature.
BATCH_FEATURE_KEYS = (
    "feature_index", "neuron_alignment_indices", "neuron_alignment_values", "neuron_alignment_l1",
    "correlated_neurons_indices", "correlated_neurons_l1", "correlated_neurons_pearson",
    "correlated_features_indices", "correlated_features_l1", "correlated_features_pearson", "neg_str", "neg_values",
    "pos_str", "pos_values", "frac_nonzero", "freq_hist_data_bar_values", "freq_hist_data_bar_heights",
    "logits_hist_data_bar_heights", "logits_hist_data_bar_values", "n_prompts_total", "n_tokens_in_prompt",
    "dataset", "decoder_weights_dist", "activations")
_ACTIVATION_KEYS = ("bin_min", "bin_max", "bin_contains", "tokens", "values", "qualifying_token_index")
_BUG = "this is a bug in tl-reasoning's Neuronpedia export; please report it"


def neuronpedia_version() -> str | None:
    """The installed ``neuronpedia`` package's version, or ``None`` when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version("neuronpedia")
    except metadata.PackageNotFoundError:
        return None


def _finite(values: Sequence[Any], what: str) -> None:
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        raise ValueError(f"{what} holds a non-finite or non-numeric value; {_BUG}")


def check_batch(batch: Mapping[str, Any], model_id: str, source_id: str,
                explanations: Sequence[Mapping[str, Any]] = ()) -> str | None:
    """Check a batch (and its explanation rows); return ``"neuronpedia X.Y"`` when its models validated them."""
    for feature in batch["features"]:
        missing = [k for k in BATCH_FEATURE_KEYS if k not in feature]
        if missing:
            raise ValueError(f"feature {feature.get('feature_index')} lacks {missing}; {_BUG}")
        _finite(feature["pos_values"] + feature["neg_values"] + [feature["frac_nonzero"]], "a logit or frequency")
        for act in feature["activations"]:
            if any(k not in act for k in _ACTIVATION_KEYS) or len(act["tokens"]) != len(act["values"]):
                raise ValueError(f"an activation of feature {feature['feature_index']} is malformed; {_BUG}")
            _finite(act["values"], "an activation")
    version = neuronpedia_version()
    if version is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydantic's deprecation notes about the generated models
        from neuronpedia.np_activation import Activation
        from neuronpedia.np_explanation import Explanation
        from neuronpedia.np_feature import Feature, Logit
        from neuronpedia.types.common.activation import NPActivation
        from neuronpedia.types.common.feature import NPFeature

        model, source = model_id, source_id
        for f in batch["features"]:
            index = int(f["feature_index"])
            NPFeature(model=model, source=source, index=index)
            acts = [Activation(model, source, index, **NPActivation(tokens=a["tokens"], values=a["values"]).model_dump())
                    for a in f["activations"]]
            Feature(modelId=model, source=source, index=index, density=float(f["frac_nonzero"]),
                    top_logits=[Logit(t, float(v)) for t, v in zip(f["pos_str"], f["pos_values"], strict=True)],
                    bottom_logits=[Logit(t, float(v)) for t, v in zip(f["neg_str"], f["neg_values"], strict=True)],
                    activations=acts)
        for row in explanations:
            Explanation.from_np_db_json({**row, "source": row["layer"]})
    return f"neuronpedia {version}"


def check_vectors(records: Sequence[Mapping[str, Any]]) -> str | None:
    """Check ``NPVector.new`` keyword records; return ``"neuronpedia X.Y"`` when its types validated them."""
    for record in records:
        _finite(record["vector"], f"vector {record['label']!r}")
        if record["default_steer_strength"] is not None:
            _finite([record["default_steer_strength"]], f"the strength of vector {record['label']!r}")
    version = neuronpedia_version()
    if version is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from neuronpedia.np_vector import NPVector
        from neuronpedia.requests.vector_request import VALID_HOOK_TYPES

        for r in records:
            if r["hook_type"] not in VALID_HOOK_TYPES:
                raise ValueError(f"Neuronpedia takes vectors at {VALID_HOOK_TYPES}, not {r['hook_type']!r}; export "
                                 "a resid_pre or resid_post SAE's features")
            NPVector(label=r["label"], model_id=r["model_id"], source=f"{r['layer_num']}-vector", index="",
                     values=list(r["vector"]), hook_name=f"blocks.{r['layer_num']}.{r['hook_type']}",
                     default_steer_strength=r["default_steer_strength"], url="-")
    return f"neuronpedia {version}"
