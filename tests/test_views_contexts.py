"""Views: top-context gathering on constructed cases, script-safe props, offline pages, CLI."""

from __future__ import annotations

import re

import torch

from tests.browser.organism import N_FEATURES, organism_dashboard_html, organism_setup
from tl_reasoning.views import View, script_json
from tl_reasoning.visualizations import TopKAccumulator, activation_histogram, feature_activations

NETWORK = re.compile(r"<script[^>]+src=|import\s*(\{[^}]*\}\s*from\s*)?[\"']https?:|unpkg\.com|jsdelivr|cdnjs",
                     re.IGNORECASE)


def test_top_k_accumulator_finds_known_maxima_across_batches():
    acc = TopKAccumulator(2, k=2, before=1, after=1)
    feats = torch.zeros(2, 5, 2)
    feats[0, 3, 0], feats[1, 0, 0], feats[1, 2, 1], feats[0, 1, 1] = 5, 9, 4, 7
    valid = torch.ones(2, 5, dtype=torch.bool)
    valid[1, 0] = False                                   # BOS-like: never competes
    acc.update(feats, torch.arange(10).reshape(2, 5), valid, first_doc=0)
    later = torch.zeros(1, 5, 2)
    later[0, 4, 0] = 6
    acc.update(later, torch.arange(10, 15)[None], torch.ones(1, 5, dtype=torch.bool), first_doc=2)
    result = acc.result([7, 8], {i: f"t{i}" for i in range(15)})
    assert [(c["doc"], c["pos"], c["value"]) for c in result.contexts(7)] == [(2, 4, 6.0), (0, 3, 5.0)]
    assert [(c["doc"], c["pos"]) for c in result.contexts(8)] == [(0, 1), (1, 2)]
    first = result.contexts(7)[0]
    assert first["tokens"] == ["t13", "t14"] and first["tokens"][first["center"]] == "t14"  # window clipped at end
    assert result.contexts(8)[0]["values"] == [0.0, 7.0, 0.0]


def test_organism_gatherer_agrees_with_a_direct_encode():
    import tl_reasoning
    from tl_reasoning.visualizations import gather_top_contexts

    model, sae, result = organism_setup()
    feature = result.selected[0] if result.selected else int(result.table["feature"][0])
    texts = [d["text"] for d in tl_reasoning.load_corpus("organism:reasoning")][:12]
    got = gather_top_contexts(model, sae, texts, [feature], k=1, decoder_norm=False, batch_size=5)
    backend = tl_reasoning.backend_for(model)
    best = (-1.0, None)
    for i, text in enumerate(texts):
        ids, mask = backend.tokenize([text])
        acts = sae.encode(backend.capture(ids, [sae.cfg.metadata.hook_name])[sae.cfg.metadata.hook_name])[0, 1:, feature]
        if float(acts.max()) > best[0]:
            best = (float(acts.max()), (i, int(acts.argmax()) + 1))
    top = got.contexts(feature)[0]
    assert (top["doc"], top["pos"]) == best[1] and abs(top["value"] - best[0]) < 1e-4


def test_props_are_escaped_for_script_context():
    text = script_json({"t": "</script><!-- & \u2028\u2029", "x": float("nan")})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert "\\u003c/script\\u003e" in text and '"x":null' in text


def test_view_page_is_offline_with_one_bundle(tmp_path):
    view = feature_activations(["<s>", "wait", ","], [0.0, 3.0, 0.5], feature=4)
    page = view.save(tmp_path / "v.html").read_text()
    assert page.count("var CircuitsVis=") == 1 and "CircuitsVis.render(" in page
    assert not NETWORK.search(page)
    assert "var CircuitsVis=" in view._repr_html_() and "CircuitsVis.render(" in view._repr_html_()
    hist = activation_histogram(4, values=[0.5, 1.0, 3.0])
    assert "<svg" in hist._repr_html_() and hist.data["total"] == 3
    assert "CircuitsVis" not in View("<p>x</p>", "plain").html


def test_organism_dashboard_builds_fast_offline_and_one_bundle():
    html, features, seconds = organism_dashboard_html()
    assert len(features) == N_FEATURES and seconds < 30
    assert html.count("var CircuitsVis=") == 1 and not NETWORK.search(html)
    assert html.count("<section class='tlr-feature'") == N_FEATURES
    assert all(f"href='#feature-{f}'" in html for f in features)
    assert len(html) < 1_300_000 + N_FEATURES * 60_000


def test_registered_visualizations():
    from tl_reasoning.plugins import get_registry

    registry = get_registry("visualization")
    for name in ("feature_activations", "top_contexts", "logit_lens", "activation_histogram",
                 "steering_comparison", "feature_dashboard"):
        assert name in registry


def test_logit_lens_matches_direct_product():
    from tl_reasoning.visualizations import logit_lens

    model, sae, _ = organism_setup()
    lens = logit_lens(model, sae, [3], k=5)[0]
    row = sae.W_dec[3].detach() / sae.W_dec[3].detach().norm()
    logits = row @ model.W_U.detach()
    assert abs(lens.promoted[0][1] - float(logits.max())) < 1e-4
    assert abs(lens.suppressed[0][1] - float(logits.min())) < 1e-4
