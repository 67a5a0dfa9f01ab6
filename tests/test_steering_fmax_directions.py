"""f_max from data or statistics, and SAE-free directions from paired texts."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import D_MODEL, TEXTS
from tl_reasoning import (
    backend_for,
    direction_steering,
    estimate_f_max,
    f_max_from_stats,
    generate,
    load_sae,
    reasoning_direction,
)
from tl_reasoning.directions import mean_difference, pair_differences, top_eigenvector

SITE = "blocks.1.hook_resid_post"



@pytest.fixture(scope="module")
def sae(tiny_sae_dir):
    return load_sae(tiny_sae_dir)


def _text_activations(model, sae, features):
    """Activations of ``features`` over every non-special text token, computed one text at a time."""
    backend = backend_for(model)
    rows = []
    for text in TEXTS:
        ids = backend.tokenize(text).input_ids
        acts = sae.encode(backend.capture(ids, [SITE])[SITE]).detach()[0][:, features]
        keep = ~torch.isin(ids[0], torch.tensor(sorted(backend.special_token_ids)))
        rows.append(acts[keep])
    return torch.cat(rows)


def test_estimate_f_max_is_the_max_or_quantile_over_text_tokens(models, sae):
    model = models["hooked"]
    features = [0, 5, 9]
    acts = _text_activations(model, sae, features)
    got = estimate_f_max(model, sae, TEXTS, features, batch_size=3)
    torch.testing.assert_close(got, acts.max(dim=0).values, atol=1e-5, rtol=1e-5)
    q = estimate_f_max(model, sae, TEXTS, features, quantile=0.9)
    torch.testing.assert_close(q, torch.quantile(acts, 0.9, dim=0), atol=1e-5, rtol=1e-5)
    assert bool((q <= got + 1e-6).all())
    with pytest.raises(ValueError, match="out of range"):
        estimate_f_max(model, sae, TEXTS, [256])
    with pytest.raises(ValueError, match="no text tokens"):
        estimate_f_max(model, sae, [], [1])


def test_f_max_from_stats_in_every_form(tmp_path, sae):
    from safetensors.torch import save_file

    from tl_reasoning.stats import FeatureStats

    table = torch.arange(256, dtype=torch.float32) / 10
    torch.testing.assert_close(f_max_from_stats(table, [3, 10]), torch.tensor([0.3, 1.0]))
    stats = FeatureStats.empty(["wait"], 256, decoder_norm=torch.full((256,), 2.0))
    stats.max_activation = table.double() * 2  # collected in decoder-norm-scaled units
    stats.save(tmp_path / "stats.safetensors")
    torch.testing.assert_close(f_max_from_stats(stats, [3, 10]), torch.tensor([0.3, 1.0]))
    torch.testing.assert_close(f_max_from_stats(tmp_path, [3, 10]), torch.tensor([0.3, 1.0]))
    plain = tmp_path / "plain.safetensors"
    save_file({"max": table}, str(plain))
    torch.testing.assert_close(f_max_from_stats(plain, [4]), torch.tensor([0.4]))
    save_file({"mean": table}, str(plain))
    with pytest.raises(ValueError, match="no per-feature maximum.*it has mean"):
        f_max_from_stats(plain, [4])
    with pytest.raises(FileNotFoundError, match="no ReasonScore statistics"):
        f_max_from_stats(tmp_path / "missing", [1])
    with pytest.raises(ValueError, match="out of range for statistics of 256"):
        f_max_from_stats(table, [300])


def test_feature_steering_reads_f_max_from_stats(models, sae):
    from tl_reasoning import feature_steering

    steering = feature_steering(sae, [1, 2], stats=torch.arange(256.0), strength=2.0)
    assert steering.info["f_max"] == [1.0, 2.0]


def test_pair_differences_and_directions(models):
    model = models["hooked"]
    long_texts, short_texts = TEXTS[:3], ["the cat", "wait", "hmm maybe"]
    diffs = pair_differences(model, long_texts, short_texts, SITE, batch_size=2)
    backend = backend_for(model)

    def mean_act(text):
        ids = backend.tokenize(text).input_ids
        return backend.capture(ids, [SITE])[SITE][0, 1:].mean(dim=0)  # drop BOS (a special token)

    torch.testing.assert_close(diffs[1], mean_act(long_texts[1]) - mean_act(short_texts[1]), atol=1e-5, rtol=1e-5)
    v = top_eigenvector(diffs)
    eigvals, eigvecs = torch.linalg.eigh(diffs.double().T @ diffs.double())
    top = eigvecs[:, -1].float()
    assert abs(float(v @ top)) == pytest.approx(1.0, abs=1e-5)
    assert float(v @ mean_difference(diffs)) > 0
    flipped = top_eigenvector(-diffs)  # the orientation follows the data, not the solver
    assert float(flipped @ mean_difference(-diffs)) > 0
    torch.testing.assert_close(reasoning_direction(model, long_texts, short_texts, SITE, method="mean"),
                               diffs.mean(dim=0))
    with pytest.raises(ValueError, match="3 long vs 1 short"):
        pair_differences(model, long_texts, short_texts[:1], SITE)
    with pytest.raises(ValueError, match="unknown direction method"):
        reasoning_direction(model, long_texts, short_texts, SITE, method="pca")


def test_direction_steering_norm_preserving_and_the_same_on_every_backend(models):
    v = torch.randn(D_MODEL)
    steering = direction_steering(v, "blocks.0.hook_resid_post", 3.0, preserve_norm=True, positions="generated")
    x = torch.randn(2, 4, D_MODEL)
    from tl_reasoning.interventions import preserve_norm

    out = preserve_norm(steering.edit)(x, torch.arange(4))
    torch.testing.assert_close(out.norm(dim=-1), x.norm(dim=-1), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(steering.edit(x, torch.arange(4)), x + 3.0 * v)
    prompts = ["wait, let me", "the cat"]
    outs = {}
    for name, model in models.items():
        cached = [g.tokens for g in generate(model, prompts, 6, steering)]
        assert cached == [g.tokens for g in generate(model, prompts, 6, steering, use_cache=False)], name
        outs[name] = cached
    assert outs["bridge"] == outs["hooked"] == outs["nnsight"]
    assert outs["hooked"] != [g.tokens for g in generate(models["hooked"], prompts, 6)]
    zero = direction_steering(v, "blocks.0.hook_resid_post", 0.0)
    assert [g.tokens for g in generate(models["hooked"], prompts, 6, zero)] == \
        [g.tokens for g in generate(models["hooked"], prompts, 6)]
    with pytest.raises(ValueError, match="non-zero"):
        direction_steering(torch.zeros(D_MODEL), "blocks.0.hook_resid_post")
    with pytest.raises(ValueError, match="'add', 'cap' or 'ablate'"):
        direction_steering(v, "blocks.0.hook_resid_post", mode="clamp")
