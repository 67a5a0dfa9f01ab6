"""The built-in scorer, intervention and visualisation do what they claim."""

from __future__ import annotations

import math

import torch

from tests.conftest import D_MODEL, TEXTS
from tl_reasoning import FeatureStats, SAEWeights, backend_for, load_sae
from tl_reasoning.plugins import get_registry


def _reference_reason_score(mean_w, mean_o, mean_word, alpha, eps=1e-12):
    """Slow, literal transcription of paper Eqs. 4-5 (loops over features)."""
    n_feat, n_words = len(mean_w), len(mean_word)
    scores = []
    for i in range(n_feat):
        total = sum(mean_word[j][i] for j in range(n_words))
        h = 0.0
        for j in range(n_words):
            p = mean_word[j][i] / (total + eps)
            if p > 0:
                h -= p * math.log(p)
        h /= math.log(n_words)
        scores.append(mean_w[i] / (sum(mean_w) + eps) * h ** alpha - mean_o[i] / (sum(mean_o) + eps))
    return torch.tensor(scores, dtype=torch.float64)


def test_reason_score_matches_reference():
    gen = torch.Generator().manual_seed(3)
    n_feat, n_words = 40, 5
    sum_word = torch.rand(n_words, n_feat, generator=gen, dtype=torch.float64) * (torch.rand(n_words, n_feat, generator=gen) > 0.4)
    sum_word[:, 7] = 0.0  # never active in any window
    count_word = torch.randint(1, 20, (n_words,), generator=gen)
    stats = FeatureStats(words=[f"w{i}" for i in range(n_words)],
                         sum_window=torch.rand(n_feat, generator=gen, dtype=torch.float64) * 10,
                         count_window=torch.tensor(50), sum_other=torch.rand(n_feat, generator=gen, dtype=torch.float64) * 10,
                         count_other=torch.tensor(500), sum_word=sum_word, count_word=count_word)
    fn = get_registry("scorer").get("reason_score").obj
    for alpha in (0.0, 0.7, 2.0):
        ref = _reference_reason_score(stats.mean_window.tolist(), stats.mean_other.tolist(),
                                      stats.mean_word.tolist(), alpha)
        torch.testing.assert_close(fn(stats, alpha=alpha), ref)
    # entropy: a feature spread evenly over words beats one firing on a single word
    even = FeatureStats(["a", "b"], torch.tensor([1.0, 1.0]), torch.tensor(1), torch.tensor([0.5, 0.5]), torch.tensor(1),
                        torch.tensor([[1.0, 2.0], [1.0, 0.0]]), torch.tensor([1, 1]))
    scores = fn(even)
    assert scores[0] > scores[1]


def test_additive_equals_hand_written_hook(models, tiny_sae_dir):
    sae = load_sae(tiny_sae_dir)
    factory = get_registry("intervention").get("add").obj
    features = [3, 17]
    weights = SAEWeights.from_sae(sae, features)
    edit = factory(weights, features, strength=2.0, f_max=[1.5, 0.5])
    expected = 2.0 * 1.5 * sae.W_dec[3] + 2.0 * 0.5 * sae.W_dec[17]
    backend = backend_for(models["hooked"])
    ids = backend.tokenize(TEXTS[:2]).input_ids
    site = "blocks.1.hook_resid_post"
    clean = backend.capture(ids, [site])[site]
    with backend.edit(site, edit):
        steered = backend.capture(ids, [site])[site]
    torch.testing.assert_close(steered - clean, expected.detach().expand_as(clean), atol=1e-5, rtol=1e-5)


def test_sae_weights_are_clones_of_selected_features(tiny_sae_dir):
    sae = load_sae(tiny_sae_dir)
    w = SAEWeights.from_sae(sae, [5])
    assert w.W_enc.shape == (D_MODEL, 1) and w.W_dec.shape == (1, D_MODEL)
    assert w.W_dec.untyped_storage().nbytes() == D_MODEL * 4  # not a view of the full matrix
    x = torch.randn(3, D_MODEL)
    torch.testing.assert_close(w.encode(x)[:, 0], sae.encode(x)[:, 5].detach(), atol=1e-5, rtol=1e-5)


def test_feature_activations_view_shows_peak_and_is_offline(tmp_path):
    fn = get_registry("visualization").get("feature_activations").obj
    tokens = ["<s>", "wait", ",", " let", " me"]
    view = fn(tokens=tokens, activations=[0.0, 3.0, 0.5, 0.0, 1.0], feature=12)
    assert view.data["argmax"] == 1
    page = view.save(tmp_path / "v.html").read_text()
    assert "Feature 12 activations" in page and "ColoredTokens" in page
    assert "<script src=" not in page and "cdn" not in page.split("CircuitsVis.render")[-1].lower()
