"""Feature dashboards in the format Neuronpedia imports: SAEDashboard's NeuronpediaRunner batch JSON.

``batch-<i>.json`` holds ``{"model_id", "layer", "sae_set", "sae_id_suffix", "features": [...]}``, one
record per feature with the keys Neuronpedia's ``convert-saedashboard-to-neuronpedia-export.py``
reads: logit lens (``pos_str``/``pos_values``, ``neg_str``/``neg_values``), ``frac_nonzero``, the
activation histogram (``freq_hist_data_bar_values``/``_heights``), the histogram of the decoder
direction's logits over the vocabulary (``logits_hist_data_*``) and the top activations
(``tokens``, ``values``, ``qualifying_token_index`` = the maximum, ``bin_min`` -1 / ``bin_max`` the
feature's top value / ``bin_contains`` -1: SAEDashboard's "top activations" group). The converter
derives ``maxValue``/``maxValueTokenIndex`` from ``values``. With descriptions, ``explanations.jsonl``
holds Neuronpedia explanation rows. What is left empty is listed in the manifest (``not_filled``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from tl_reasoning.neuronpedia.output import NeuronpediaExport

__all__ = ["NOT_FILLED", "export_neuronpedia"]

#: Fields of the batch format this export leaves empty, and why.
NOT_FILLED = {
    "neuron_alignment_*, correlated_neurons_*, correlated_features_*":
        "SAEDashboard's feature tables (alignment with MLP neurons, correlations) are not computed",
    "decoder_weights_dist": "only defined for attention-output SAEs (per-head weight split)",
    "activations: quantile groups": "only the top activations are exported (no interval samples, bin_contains -1)",
    "activations: dfa_values, loss_values, logit_contributions": "not computed",
}
_HIST_BINS = 40


def export_neuronpedia(
    model: Any,
    sae: Any,
    scores: Any,
    data: Any,
    out_dir: str | os.PathLike[str],
    *,
    features: Sequence[int] | None = None,
    top: int = 20,
    contexts: int = 20,
    window: tuple[int, int] = (24, 8),
    max_docs: int | None = 400,
    context_size: int | None = None,
    batch_size: int = 8,
    logit_k: int = 10,
    explanations: Any = None,
    model_id: str | None = None,
    source_id: str | None = None,
    features_per_batch: int = 128,
    overwrite: bool = False,
    progress: bool = False,
    sae_name: str | None = None,
) -> NeuronpediaExport:
    """Write the ``top`` features by ReasonScore (or ``features``) as Neuronpedia batch files in ``out_dir``.

    ``scores``: a ``tl-reasoning score`` folder or :class:`~tl_reasoning.ScoreResult` with its
    statistics (they give ``frac_nonzero`` and the histogram). ``data``: the corpus searched for the
    top ``contexts`` activations (``window`` tokens before/after the maximum, ``max_docs`` documents),
    in the units of the scores, as in the dashboard. ``explanations``: as in
    :func:`~tl_reasoning.feature_dashboard`. ``model_id``/``source_id``: the Neuronpedia ids (default:
    the SAE's ``neuronpedia_id``; the source is ``<layer>-<set>``). ``out_dir`` must be new, empty,
    or an earlier export with ``overwrite=True``.
    """
    from tl_reasoning.dashboard.build import chosen_features, load_checked_scores
    from tl_reasoning.dashboard.descriptions import load_explanations
    from tl_reasoning.neuronpedia.ids import neuronpedia_id, resolve_ids, split_source
    from tl_reasoning.neuronpedia.output import prepare_dir, write_json, write_jsonl, write_manifest
    from tl_reasoning.neuronpedia.validate import check_batch
    from tl_reasoning.visualizations import gather_top_contexts, logit_lens

    model_id, source_id = resolve_ids(sae, model_id, source_id)
    layer, sae_set = split_source(source_id)
    if top < 1 or contexts < 1 or features_per_batch < 1:
        raise ValueError(f"top, contexts and features_per_batch must be >= 1, got {top}, {contexts}, "
                         f"{features_per_batch}")
    described = load_explanations(explanations, sae)
    out, previous = prepare_dir(out_dir, overwrite)
    frame, meta, stats = load_checked_scores(scores, sae, sae_name)
    if stats is None or stats.hist is None:
        raise ValueError(f"the scores {scores} have no statistics with a histogram (stats.safetensors), which "
                         "frac_nonzero and the activation histogram come from; pass a `tl-reasoning score` output folder")
    chosen = chosen_features(frame, features, top)
    if not chosen:
        raise ValueError("no features to export; pass top >= 1 or a list of features")
    decoder_norm = bool(meta.get("config", {}).get("decoder_norm", True))
    gathered = gather_top_contexts(model, sae, data, chosen, k=contexts, window=window, decoder_norm=decoder_norm,
                                   max_docs=max_docs, context_size=context_size, batch_size=batch_size,
                                   progress=progress)
    lenses = {lens.feature: lens for lens in logit_lens(model, sae, chosen, k=logit_k)}
    logit_hists = _logit_histograms(model, sae, chosen)
    n_tokens = _context_size(model, context_size)
    dataset = str(data) if isinstance(data, (str, os.PathLike)) else type(data).__name__
    records = [_feature_record(f, gathered, lenses[f], logit_hists[f], stats, gathered.docs_seen, n_tokens, dataset)
               for f in chosen]
    rows = [_explanation_row(model_id, source_id, f, described[f]) for f in chosen if f in described]
    files, validated = [], None
    for number, start in enumerate(range(0, len(records), features_per_batch)):
        batch = {"model_id": model_id, "layer": layer, "sae_set": sae_set, "sae_id_suffix": None,
                 "features": records[start:start + features_per_batch]}
        validated = check_batch(batch, model_id, source_id, rows if number == 0 else ())
        files.append(write_json(out / f"batch-{number}.json", batch).name)
    if rows:
        files.append(write_jsonl(out / "explanations.jsonl", rows).name)
    manifest = {
        "format": "neuronpedia", "model_id": model_id, "source_id": source_id, "layer": layer, "sae_set": sae_set,
        "neuronpedia_id": neuronpedia_id(sae), "features": chosen, "described": [f for f in chosen if f in described],
        "units": "decoder-norm folded (as the scores)" if decoder_norm else "raw sae.encode",
        "contexts": {"k": contexts, "window": list(window), "docs_seen": gathered.docs_seen,
                     "truncated_docs": gathered.truncated_docs, "context_size": n_tokens, "data": dataset},
        "sources": meta.get("sources") or {}, "not_filled": NOT_FILLED, "validated_with": validated,
    }
    return write_manifest(out, files, manifest, previous)


def _feature_record(feature: int, gathered: Any, lens: Any, logit_hist: tuple[list[float], list[float]],
                    stats: Any, docs: int, n_tokens: int, dataset: str) -> dict[str, Any]:
    """One feature in SAEDashboard's ``NeuronpediaDashboardFeature.to_dict`` layout."""
    from tl_reasoning.visualizations import histogram_from_stats

    items = gathered.contexts(feature)
    top_value = max((it["value"] for it in items), default=0.0)
    activations = [{"bin_min": -1, "bin_max": top_value, "bin_contains": -1, "tokens": it["tokens"],
                    "values": [float(v) for v in it["values"]], "qualifying_token_index": it["center"]}
                   for it in items]
    edges, counts = histogram_from_stats(stats, feature)
    positive = float(sum(counts))
    values, heights = _bars(edges, counts)
    empty: list[Any] = []
    return {
        "feature_index": int(feature),
        "neuron_alignment_indices": empty, "neuron_alignment_values": empty, "neuron_alignment_l1": empty,
        "correlated_neurons_indices": empty, "correlated_neurons_l1": empty, "correlated_neurons_pearson": empty,
        "correlated_features_indices": empty, "correlated_features_l1": empty, "correlated_features_pearson": empty,
        "neg_str": [t for t, _ in lens.suppressed], "neg_values": [float(v) for _, v in lens.suppressed],
        "pos_str": [t for t, _ in lens.promoted], "pos_values": [float(v) for _, v in lens.promoted],
        "frac_nonzero": positive / max(stats.tokens_seen, 1),
        "freq_hist_data_bar_values": values, "freq_hist_data_bar_heights": heights,
        "logits_hist_data_bar_heights": logit_hist[1], "logits_hist_data_bar_values": logit_hist[0],
        "n_prompts_total": int(docs), "n_tokens_in_prompt": int(n_tokens), "dataset": dataset,
        "decoder_weights_dist": empty, "activations": activations,
    }


def _bars(edges: Sequence[float], counts: Sequence[float]) -> tuple[list[float], list[float]]:
    """Bin midpoints and counts, empty leading and trailing bins dropped."""
    nz = [i for i, c in enumerate(counts) if c > 0]
    if not nz:
        return [], []
    keep = range(nz[0], nz[-1] + 1)
    return [(edges[i] + edges[i + 1]) / 2 for i in keep], [float(counts[i]) for i in keep]


def _logit_histograms(model: Any, sae: Any, features: list[int]) -> dict[int, tuple[list[float], list[float]]]:
    """Per feature ``(bar midpoints, counts)`` of ``W_dec[i]/‖W_dec[i]‖ · W_U`` over the vocabulary (the logit lens)."""
    import torch

    from tl_reasoning.visualizations import unembedding

    w_u = unembedding(model).float()
    with torch.no_grad():
        rows = sae.W_dec.detach()[torch.tensor(features, device=sae.W_dec.device)].float()
        rows = rows / rows.norm(dim=1, keepdim=True).clamp(min=1e-12)
        logits = (rows.to(w_u.device) @ w_u).cpu().double()
    out = {}
    for r, f in enumerate(features):
        hist = torch.histogram(logits[r], bins=_HIST_BINS)
        edges = hist.bin_edges.tolist()
        out[f] = ([(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)], hist.hist.tolist())
    return out


def _context_size(model: Any, context_size: int | None) -> int:
    from tl_reasoning.plugins import backend_for
    from tl_reasoning.scoring.collect import resolve_context_size
    from tl_reasoning.scoring.config import StatsConfig

    return int(resolve_context_size(StatsConfig(context_size=context_size), backend_for(model)).context_size)


def _explanation_row(model_id: str, source_id: str, feature: int, record: dict[str, Any]) -> dict[str, Any]:
    """A Neuronpedia explanation row (the export's ``explanations`` table)."""
    return {"modelId": model_id, "layer": source_id, "index": str(feature), "description": record.get("description") or "",
            "typeName": "tl-reasoning-interpret", "explanationModelName": record.get("model") or record.get("explainer")}
