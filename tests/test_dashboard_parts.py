"""Dashboard parts without a browser: histogram axes, the per-word profile (ReasonScore's p_i(r_j))
and the header's model and SAE names."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import torch

from tl_reasoning.scoring.reason_score import word_entropy
from tl_reasoning.visualizations import activation_histogram, word_profile, word_profile_view


def test_histogram_has_labelled_axes_with_tick_values():
    view = activation_histogram(3, edges=[0.0, 1.0, 2.0, 4.0, 8.0], counts=[0.0, 10.0, 40.0, 5.0])
    svg = view.fragment
    assert re.search(r"class='tlr-xlabel'[^>]*>activation<", svg)
    assert re.search(r"class='tlr-ylabel'[^>]*>count<", svg)
    x_ticks = re.findall(r"class='tlr-tick-x'[^>]*>([^<]+)<", svg)
    y_ticks = re.findall(r"class='tlr-tick-y'[^>]*>([^<]+)<", svg)
    assert x_ticks[0] == "1" and x_ticks[-1] == "8"  # the empty first bin is trimmed
    assert y_ticks == ["0", "20", "40"]
    assert svg.count("<rect") == 3 and view.data["total"] == 55


def _stats():
    mean_word = torch.tensor([[4.0, 0.0, 1.0], [4.0, 0.0, 0.0], [0.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    return SimpleNamespace(words=["wait", "hmm", "maybe", "let me"], mean_word=mean_word)


def test_word_profile_is_the_distribution_reason_score_uses():
    stats = _stats()
    words, p, means, entropy = word_profile(stats, 0)
    assert words == ["wait", "hmm", "maybe", "let me"] and p == pytest.approx([0.4, 0.4, 0.0, 0.2])
    assert means == pytest.approx([4.0, 4.0, 0.0, 2.0])
    assert entropy == pytest.approx(float(word_entropy(stats.mean_word.double())[0]))
    assert word_profile(stats, 1)[1] == [0.0] * 4  # never active near a reasoning word
    assert word_profile(stats, 2)[3] == pytest.approx(0.0)  # one word: entropy 0
    view = word_profile_view(stats, 0, top=2)
    rows = re.findall(r"<tr data-word='([^']+)'><td>[^<]*</td><td>.*?</td><td>([0-9.]+)</td>", view.fragment)
    assert rows == [("wait", "0.400"), ("hmm", "0.400")]
    assert "2 more</td><td></td><td>0.200" in view.fragment and view.data["top_word"] == "wait"
    with pytest.raises(ValueError, match="out of range"):
        word_profile(stats, 3)


def test_dashboard_header_names_model_and_sae():
    from tests.browser.organism import organism_dashboard_html

    html, features, _ = organism_dashboard_html()
    assert "model <code class='tlr-model'>organism</code> · SAE <code class='tlr-sae'>organism</code>" in html
    assert html.count("class='tlr-table tlr-words'") == len(features)
    assert html.count("class='tlr-xlabel'") == len(features)


def test_dashboard_names_fall_back_to_the_scores_sources_then_the_objects():
    from tl_reasoning.dashboard.build import _names

    model = SimpleNamespace(cfg=SimpleNamespace(model_name="tiny-llama"))
    sae = SimpleNamespace(cfg=SimpleNamespace(metadata=SimpleNamespace(model_name="tiny-llama", sae_id=None,
                                                                       release=None)))
    meta = {"sources": {"model": "org/model", "sae": "org/sae"}}
    assert _names(model, sae, meta, None, None) == ("org/model", "org/sae")
    assert _names(model, sae, meta, "m", "s") == ("m", "s")
    assert _names(model, sae, {}, None, None) == ("tiny-llama", "SimpleNamespace of tiny-llama")
