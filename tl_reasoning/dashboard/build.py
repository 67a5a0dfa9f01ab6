"""Build the feature dashboard: one offline HTML file, circuitsvis inlined once.

Per feature: its ReasonScore row (score, rank, control scores), top-activating contexts (gathered
for all features in one corpus pass), logit lens, activation histogram (from the scoring run's
statistics when given) and, with a prompt, a baseline-vs-steered generation. A list of features
links to their sections (plain anchors: no network, no script needed to navigate). With descriptions
from ``tl-reasoning interpret`` each feature starts with its description; an SAE with a Neuronpedia
id links each feature to its Neuronpedia page.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tl_reasoning.views import View, esc, page_html, table, write_text_atomic

__all__ = ["Dashboard", "chosen_features", "feature_dashboard", "load_checked_scores", "load_scores"]

_SCORE_COLUMNS = ("reason_score", "rank", "selected", "top_word", "entropy", "mean_reasoning", "mean_other",
                  "separability", "word_concentration", "matched_share", "max_activation", "f_max_raw",
                  "q99_active")

_NAV_STYLE = """<style>
nav.tlr-nav { position: fixed; top: 0; left: 0; bottom: 0; width: 190px; overflow-y: auto;
  border-right: 1px solid #ddd; padding: 8px; font-size: 12px; background: #fafafa; }
nav.tlr-nav a { display: block; text-decoration: none; padding: 1px 0; }
main.tlr-main { margin-left: 215px; max-width: 1100px; }
section.tlr-feature { border-top: 2px solid #333; padding-top: 4px; margin-top: 24px; }
nav.tlr-nav div.tlr-nav-item a { display: inline; } nav.tlr-nav a.tlr-np { font-size: 11px; }
div.tlr-description { background: #f5f7ff; border-left: 3px solid #4c72b0; padding: 2px 10px; margin: 6px 0; }
div.tlr-description h3 { margin: 4px 0; font-size: 14px; }
</style>"""


@dataclass
class Dashboard:
    """A built dashboard: the page ``html`` and the features it shows."""

    html: str
    features: list[int]
    title: str

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the page to ``path`` and return it."""
        return write_text_atomic(path, self.html)

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"Dashboard({len(self.features)} features, {len(self.html) / 1e6:.2f} MB)"


def load_scores(scores: Any) -> tuple[Any, dict[str, Any], Any]:
    """``(table, meta, stats)`` from a scores directory, a ``ScoreResult`` or a DataFrame.

    ``stats`` (a :class:`~tl_reasoning.FeatureStats`) is ``None`` when the directory has no
    ``stats.safetensors``. A folder scored with another unit convention is refused (rescore).
    """
    import json

    import pandas as pd

    from tl_reasoning.scoring.result import ScoreResult
    from tl_reasoning.stats import FeatureStats
    from tl_reasoning.stats_checks import check_score_folder

    if isinstance(scores, ScoreResult):
        return scores.table, scores.meta(), scores.stats
    if isinstance(scores, pd.DataFrame):
        return scores, {}, None
    root = Path(scores)
    if root.is_file():
        root = root.parent
    csv = root / "scores.csv"
    if not csv.is_file():
        if (root / "scores" / "scores.csv").is_file():
            raise FileNotFoundError(f"{csv} not found; {root} is a demo folder: its scores are in {root / 'scores'}")
        raise FileNotFoundError(f"{csv} not found; run `tl-reasoning score ... --out {root}` first")
    check_score_folder(root)
    meta_path, stats_path = root / "meta.json", root / "stats.safetensors"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    stats = FeatureStats.load(stats_path) if stats_path.is_file() else None
    return pd.read_csv(csv), meta, stats


def load_checked_scores(scores: Any, sae: Any, sae_name: str | None = None) -> tuple[Any, dict[str, Any], Any]:
    """:func:`load_scores`, refusing scores or statistics recorded for another SAE than ``sae``
    (:class:`~tl_reasoning.stats_checks.StatsSaeMismatchError`; ``sae_name``: its spec, for the message)."""
    from tl_reasoning.stats_checks import check_sae_matches

    frame, meta, stats = load_scores(scores)
    what = f"the scores {scores}" if isinstance(scores, (str, os.PathLike)) else "the scores"
    check_sae_matches(meta, sae, what, sae_name)
    if stats is not None:
        check_sae_matches(stats.meta, sae, what.replace("scores", "statistics"), sae_name)
    return frame, meta, stats


def chosen_features(frame: Any, features: Sequence[int] | None, top: int) -> list[int]:
    """``features`` as ints, else the ``top`` features of the score table (best first)."""
    return [int(f) for f in features] if features is not None else [int(f) for f in frame["feature"].head(top)]


def feature_dashboard(
    model: Any,
    sae: Any,
    scores: Any,
    data: Any,
    *,
    top: int = 20,
    features: Sequence[int] | None = None,
    contexts: int = 10,
    window: tuple[int, int] = (8, 4),
    max_docs: int | None = 400,
    context_size: int | None = None,
    batch_size: int = 8,
    logit_k: int = 10,
    steer_prompt: str | None = None,
    strength: float = 2.0,
    max_new_tokens: int = 48,
    title: str = "tl-reasoning feature dashboard",
    progress: bool = False,
    sae_name: str | None = None,
    model_name: str | None = None,
    explanations: Any = None,
) -> Dashboard:
    """Dashboard of the ``top`` features by ReasonScore (or of ``features``), one offline HTML page.

    ``scores``: a ``tl-reasoning score`` output directory, a :class:`~tl_reasoning.ScoreResult` or its
    table. ``data``: the corpus whose top-activating contexts are shown (``max_docs`` documents,
    one pass for all features). Activations are in the units of the scores (decoder-norm folded
    unless the run used ``--no-decoder-norm``). ``steer_prompt`` adds a baseline-vs-steered
    generation per feature (``strength`` γ, f_max from the statistics). Scores recorded for
    another SAE (decoder hash) raise :class:`~tl_reasoning.stats_checks.StatsSaeMismatchError`
    (``sae_name``: the SAE's spec, for the message).

    The header names the model and the SAE (``model_name``/``sae_name``, else the names the scores
    recorded, else what the objects say about themselves) with the SAE's site and width. With the
    scoring statistics, each feature shows its activation per reasoning word (p_i(r_j), the
    distribution behind ReasonScore's entropy term) next to its score row and ``top_word``.

    ``explanations``: a ``tl-reasoning interpret`` output folder, its ``explanations.json`` or a dict
    ``{feature: description or dict}``; each described feature then opens with a "Description" block
    (description, labels, confidence, behaviour group, explainer; all escaped). When the SAE has a
    Neuronpedia id (:func:`tl_reasoning.neuronpedia.neuronpedia_id`), every feature links to its
    Neuronpedia page.
    """
    from tqdm.auto import tqdm

    from tl_reasoning.dashboard.descriptions import description_html, load_explanations
    from tl_reasoning.neuronpedia.ids import feature_url, neuronpedia_id
    from tl_reasoning.visualizations import (
        activation_histogram,
        gather_top_contexts,
        histogram_from_stats,
        logit_lens,
        logit_lens_view,
        top_contexts_view,
        word_profile_view,
    )

    described = load_explanations(explanations, sae)  # a bad file fails before any compute
    np_id = neuronpedia_id(sae)
    frame, meta, stats = load_checked_scores(scores, sae, sae_name)
    chosen = chosen_features(frame, features, top)
    if not chosen:
        raise ValueError("no features to show; pass top >= 1 or a list of features")
    decoder_norm = bool(meta.get("config", {}).get("decoder_norm", True))
    gathered = gather_top_contexts(model, sae, data, chosen, k=contexts, window=window, decoder_norm=decoder_norm,
                                   max_docs=max_docs, context_size=context_size, batch_size=batch_size,
                                   progress=progress)
    lenses = {lens.feature: lens for lens in logit_lens(model, sae, chosen, k=logit_k)}
    rows = {int(r["feature"]): r for r in frame.to_dict("records") if int(r["feature"]) in set(chosen)}
    sections, nav = [], []
    for f in tqdm(chosen, desc="dashboard", unit="feature", disable=not progress, leave=False):
        views: list[View] = [top_contexts_view(gathered, f), logit_lens_view(lenses[f])]
        if stats is not None and stats.hist is not None:
            edges, counts = histogram_from_stats(stats, f)
            views.append(activation_histogram(f, edges=edges, counts=counts))
        else:
            views.append(activation_histogram(f, values=[c["value"] for c in gathered.contexts(f)]))
        if steer_prompt:
            views.append(_steering_view(model, sae, f, stats, steer_prompt, strength, max_new_tokens))
        row = rows.get(f, {})
        score = row.get("reason_score")
        label = f"#{row.get('rank', '?')} feature {f}" + (f" · {score:.4g}" if isinstance(score, float) else "")
        url = feature_url(np_id, f) if np_id else None
        anchor = f"<a href='#feature-{f}'>{esc(label)}</a>"
        nav.append(f"<div class='tlr-nav-item'>{anchor} {_np_link(url, '↗', f'feature {f} on Neuronpedia', 'tlr-np')}"
                   "</div>" if url else anchor)
        cells = [(c, _fmt(row[c])) for c in _SCORE_COLUMNS if c in row]
        top = f"<div class='tlr-score'>{table(cells, ['score', 'value'])}</div>"
        if stats is not None and getattr(stats, "mean_word", None) is not None and stats.words:
            top = f"<div class='tlr-cols'>{top}<div>{word_profile_view(stats, f).section(3)}</div></div>"
        heading = f"<h2>Feature {f}" + (f" <small>{_np_link(url, 'on Neuronpedia', '', 'tlr-np')}</small>"
                                        if url else "") + "</h2>"
        described_f = description_html(described[f]) if f in described else ""
        sections.append(f"<section class='tlr-feature' id='feature-{f}' data-feature='{f}'>"
                        f"{heading}{described_f}{top}" + "".join(v.section(3) for v in views) + "</section>")
    model_label, sae_label = _names(model, sae, meta, model_name, sae_name)
    header = (f"<h1>{esc(title)}</h1><p class='tlr-models'>model <code class='tlr-model'>{esc(model_label)}</code>"
              f" · SAE <code class='tlr-sae'>{esc(sae_label)}</code>{esc(_sae_facts(sae))}</p>"
              f"<p class='tlr-meta'>{len(chosen)} features · contexts from "
              f"{gathered.docs_seen} documents of {esc(_describe(data))}"
              + (f" ({gathered.truncated_docs} truncated to the model's context)" if gathered.truncated_docs else "")
              + "</p>" + _np_note(np_id, [f for f in chosen if f in described], len(chosen), explanations))
    body = [f"<nav class='tlr-nav'><b>Features</b>{''.join(nav)}</nav>",
            f"<main class='tlr-main'>{header}{''.join(sections)}</main>"]
    return Dashboard(page_html(body, title=title, head=_NAV_STYLE), chosen, title)


def _steering_view(model: Any, sae: Any, feature: int, stats: Any, prompt: str, strength: float,
                   max_new_tokens: int) -> View:
    import torch

    from tl_reasoning.steering import feature_steering, generate
    from tl_reasoning.visualizations import steering_comparison

    if stats is None or stats.max_activation is None:
        raise ValueError("steering in the dashboard needs f_max: pass scores with stats.safetensors")
    f_max = float(stats.f_max(raw=True)[feature])
    steering = feature_steering(sae, [feature], strength=torch.tensor([[0.0], [float(strength)]]), f_max=f_max)
    base, steered = generate(model, [prompt, prompt], max_new_tokens=max_new_tokens, steering=steering)
    rho = steered.push[0].rho if steered.push and steered.push[0].rho is not None else None
    push = f", push ρ = ‖Δ‖/mean‖x‖ = {rho:.2f}" if rho is not None else ""
    return steering_comparison(base.text, steered.text, prompt=prompt,
                               title=f"Feature {feature}: steering at γ = {strength:g} (f_max {f_max:.3g}{push})")


def _names(model: Any, sae: Any, meta: dict[str, Any], model_name: str | None,
           sae_name: str | None) -> tuple[str, str]:
    """Display names of the model and the SAE: given, recorded with the scores, or from the objects."""
    sources = meta.get("sources") or {}
    cfg = getattr(model, "cfg", None)
    model_label = (model_name or sources.get("model") or getattr(cfg, "model_name", None)
                   or getattr(getattr(model, "config", None), "_name_or_path", None) or type(model).__name__)
    sae_meta = getattr(getattr(sae, "cfg", None), "metadata", None)
    trained_on = getattr(sae_meta, "model_name", None)
    sae_label = (sae_name or sources.get("sae") or getattr(sae_meta, "sae_id", None)
                 or getattr(sae_meta, "release", None)
                 or (f"{type(sae).__name__} of {trained_on}" if trained_on else type(sae).__name__))
    return str(model_label), str(sae_label)


def _sae_facts(sae: Any) -> str:
    """`` (blocks.2.hook_resid_post, 1024 features)`` — the SAE's site and width when known."""
    from tl_reasoning.loading.saes import sae_site

    cfg = getattr(sae, "cfg", None)
    facts = []
    try:
        facts.append(str(sae_site(sae)))
    except (AttributeError, ValueError, TypeError):
        pass
    if getattr(cfg, "d_sae", None):
        facts.append(f"{cfg.d_sae} features")
    return f" ({', '.join(facts)})" if facts else ""


def _np_link(url: str, text: str, title: str, css: str) -> str:
    """A plain external link (new tab, no opener), every part escaped."""
    tip = f" title='{esc(title)}'" if title else ""
    return f"<a class='{css}' href='{esc(url)}' target='_blank' rel='noopener'{tip}>{esc(text)}</a>"


def _np_note(np_id: str | None, described: list[int], shown: int, explanations: Any) -> str:
    """Header lines: where the Neuronpedia links go, and where the descriptions come from."""
    from tl_reasoning.neuronpedia.ids import NEURONPEDIA_URL

    note = ""
    if np_id:
        note += (f"<p class='tlr-meta tlr-np-note'>Each feature links to its Neuronpedia page "
                 f"({_np_link(f'{NEURONPEDIA_URL}/{np_id}', np_id, '', 'tlr-np')}).</p>")
    if described:
        where = f" from {esc(explanations)}" if isinstance(explanations, (str, os.PathLike)) else ""
        note += f"<p class='tlr-meta tlr-described'>Descriptions of {len(described)} of {shown} features{where}.</p>"
    return note


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _describe(data: Any) -> str:
    return str(data) if isinstance(data, (str, os.PathLike)) else f"{type(data).__name__}"
