"""The dashboard in a real browser (headless Debian chromium, networking off).

``make test`` installs chromium (apt) when it is missing; in CI (``CI=true``) a missing chromium
fails these tests, locally they skip.
"""

from __future__ import annotations

import pytest
import torch

from tests.browser.chromium import RENDERED, ci, find_chromium, load_page
from tl_reasoning.views import View, page_html
from tl_reasoning.visualizations import (
    TopKAccumulator,
    activation_histogram,
    feature_activations,
    steering_comparison,
    top_contexts_view,
)

EVIL = "</script><script>window.PWNED=1</script>"
EVIL_IMG = '<img src="x" onerror="window.PWNED=2">'
TOKENS = ["<s>", EVIL, EVIL_IMG, ' "quoted" ', " & amp;", "<!--", " wait", "\u2028"]


@pytest.fixture(scope="module")
def chromium():
    if find_chromium() is None:
        if ci():
            pytest.fail("chromium is not installed; `make test` installs it with apt-get (run as root)")
        pytest.skip("chromium not installed (apt-get install chromium)")


@pytest.fixture
def organism_dashboard(tmp_path):
    from types import SimpleNamespace

    from tests.browser.organism import organism_dashboard_html

    html, features, _ = organism_dashboard_html()
    path = tmp_path / "dashboard.html"
    path.write_text(html, encoding="utf-8")
    return path, SimpleNamespace(features=features)


def _evil_page(tmp_path):
    acc = TopKAccumulator(1, k=2, before=2, after=2)
    feats = torch.tensor([[0.0, 5.0, 3.0, 1.0, 0.0, 0.0, 2.0, 0.0]])[..., None]
    acc.update(feats, torch.arange(8)[None], torch.ones(1, 8, dtype=torch.bool), 0)
    contexts = acc.result([3], dict(enumerate(TOKENS)))
    views = [feature_activations(TOKENS, [0, 5, 3, 1, 0, 0, 2, 0], feature=3),
             top_contexts_view(contexts, 3),
             activation_histogram(3, values=[1.0, 2.0, 5.0]),
             steering_comparison("Wait, " + EVIL, "Hmm & " + EVIL, prompt=EVIL)]
    path = tmp_path / "evil.html"
    path.write_text(page_html([v.section() for v in views], title=EVIL))
    return path, views


def test_hostile_tokens_render_as_text_and_execute_nothing(chromium, tmp_path):
    path, views = _evil_page(tmp_path)
    report = load_page(path, RENDERED % 20000)
    assert report["errors"] == [] and report["requests"] == []
    value = report["value"]
    assert value["pwned"] == "undefined"
    n_components = sum(len(v.components) for v in views)
    assert value["components"] == n_components and value["filled"] == n_components
    value["text"] = value["text"].replace("\xa0", " ")
    assert value["text"].count(EVIL) >= 3 and EVIL_IMG in value["text"] and "<s>" in value["text"]
    assert '"quoted"' in value["text"] and "& amp;" in value["text"]


def test_organism_dashboard_renders_offline(chromium, organism_dashboard):
    path, dashboard = organism_dashboard
    report = load_page(path, RENDERED % 30000)
    assert report["errors"] == [], report["errors"]
    assert report["requests"] == []
    value = report["value"]
    assert value["sections"] == len(dashboard.features)
    assert value["components"] > 0 and value["filled"] == value["components"]
    assert value["pwned"] == "undefined"


PARTS = """(() => {
  const sections = [...document.querySelectorAll('section.tlr-feature')].map(s => {
    const hist = s.querySelector('svg.tlr-hist');
    const box = hist ? hist.getBoundingClientRect() : null;
    const scoreRows = [...s.querySelectorAll('.tlr-score tr')].map(r => [...r.cells].map(c => c.innerText));
    const top = (scoreRows.find(r => r[0] === 'top_word') || [])[1];
    const words = [...s.querySelectorAll('table.tlr-words tr[data-word]')];
    const rest = [...s.querySelectorAll('table.tlr-words tr.tlr-rest')];
    const pSum = [...words, ...rest].reduce((a, r) => a + parseFloat(r.cells[2].innerText), 0);
    return {xlabel: hist && hist.querySelector('.tlr-xlabel').textContent,
            ylabel: hist && hist.querySelector('.tlr-ylabel').textContent,
            xticks: hist ? hist.querySelectorAll('.tlr-tick-x').length : 0,
            yticks: hist ? hist.querySelectorAll('.tlr-tick-y').length : 0,
            visible: !!box && box.width > 100 && box.height > 50,
            top_word: top, first_word: words.length ? words[0].dataset.word : null,
            n_words: words.length, p_sum: pSum,
            profile_beside_scores: !!s.querySelector('.tlr-cols .tlr-score') && !!s.querySelector('.tlr-cols table.tlr-words')};
  });
  return {model: (document.querySelector('code.tlr-model') || {}).textContent,
          sae: (document.querySelector('code.tlr-sae') || {}).textContent,
          header: (document.querySelector('.tlr-models') || {}).innerText, sections};
})()"""


def test_organism_dashboard_names_model_and_sae_labels_histograms_and_shows_word_profiles(chromium, organism_dashboard):
    path, dashboard = organism_dashboard
    report = load_page(path, PARTS)
    assert report["errors"] == [], report["errors"]
    value = report["value"]
    assert value["model"] == "organism" and value["sae"] == "organism"
    assert "features" in value["header"]  # the SAE's site and width
    assert len(value["sections"]) == len(dashboard.features)
    for section in value["sections"]:
        assert section["xlabel"] == "activation" and section["ylabel"] == "count", section
        assert section["xticks"] >= 2 and section["yticks"] >= 2 and section["visible"], section
        assert section["profile_beside_scores"] and section["n_words"] >= 2, section
        assert section["first_word"] == section["top_word"], section  # the tallest bar is top_word
        assert abs(section["p_sum"] - 1.0) < 0.02, section


def test_a_view_page_without_components_needs_no_bundle():
    assert "CircuitsVis" not in View("<p>x</p>", "plain").html
