"""The ``random`` and ``output_score`` selectors (scorer plugins) on the tiny model fixtures."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import pytest
import torch

from tl_reasoning.validate.metrics import ranking_from_scores
from tl_reasoning.validate.output_score import output_scores, reflection_token_ids

from .conftest import TEXTS

PLANTED = 7


def _scorer(name):
    from tl_reasoning.plugins import get_registry

    return get_registry("scorer").get(name).obj


def _stats(n=256):
    return SimpleNamespace(n_features=n, meta={})


def test_random_is_seeded_and_registered():
    random = _scorer("random")
    a, b, c = random(_stats(), seed=3), random(_stats(), seed=3), random(_stats(), seed=4)
    assert a.shape == (256,) and a.dtype == torch.float64
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.equal(random(_stats()), random(_stats(), seed=0))  # default seed 0


def test_output_score_needs_model_sae_and_contexts():
    with pytest.raises(ValueError, match="needs model=, sae=, contexts="):
        _scorer("output_score")(_stats())


@pytest.fixture
def planted(models, tiny_model_dir, tiny_sae_dir):
    """The hooked tiny model and an SAE whose feature 7 points at the reflection tokens' unembedding."""
    from sae_lens import SAE
    from transformers import LlamaForCausalLM

    from tl_reasoning.plugins import backend_for

    model = models["hooked"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sae = SAE.load_from_disk(str(tiny_sae_dir))
        unembed = LlamaForCausalLM.from_pretrained(str(tiny_model_dir)).lm_head.weight.detach()
    ids = reflection_token_ids(backend_for(model).tokenizer)
    toward = unembed[ids].mean(0) - unembed.mean(0)  # the final RMSNorm weight is 1: this raises their logits
    with torch.no_grad():
        sae.W_dec[PLANTED] = toward / toward.norm() * sae.W_dec[PLANTED].norm()
    return model, sae


def test_output_score_ranks_the_planted_feature_first(planted):
    model, sae = planted
    scores = _scorer("output_score")(_stats(), model=model, sae=sae, contexts=TEXTS)
    assert scores.shape == (256,) and torch.isfinite(scores).all()
    assert ranking_from_scores(scores)[0] == PLANTED
    assert float(scores[PLANTED]) > 5 * float(scores.abs().median())


def test_output_score_sign_and_mass_measure(planted):
    model, sae = planted
    with torch.no_grad():
        sae.W_dec[PLANTED] *= -1  # pointing away from the reflection tokens: last, not first
    assert ranking_from_scores(output_scores(model, sae, TEXTS))[-1] == PLANTED
    with torch.no_grad():
        sae.W_dec[PLANTED] *= -1
    assert ranking_from_scores(output_scores(model, sae, TEXTS, measure="mass"))[0] == PLANTED


def test_output_score_batching_subsets_and_hooks(planted):
    from tl_reasoning.plugins import backend_for

    model, sae = planted
    full = output_scores(model, sae, TEXTS, feature_batch=256)
    split = output_scores(model, sae, TEXTS, feature_batch=7)
    assert torch.allclose(full, split, atol=1e-6)
    some = output_scores(model, sae, TEXTS, features=[3, PLANTED])
    assert torch.allclose(some[[3, PLANTED]], full[[3, PLANTED]], atol=1e-6)
    assert int(torch.isnan(some).sum()) == 254
    assert backend_for(model).edits == []  # every edit removed


def test_output_score_removes_its_edit_on_error(planted, monkeypatch):
    from tl_reasoning.plugins import backend_for

    model, sae = planted
    backend = backend_for(model)
    calls = {"n": 0}
    original = type(backend).forward

    def failing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 1:  # the baseline pass succeeds, the steered one fails
            raise RuntimeError("boom")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(backend), "forward", failing)
    with pytest.raises(RuntimeError, match="boom"):
        output_scores(model, sae, TEXTS)
    assert backend.edits == []


def test_output_score_rejects_bad_input(planted):
    model, sae = planted
    with pytest.raises(ValueError, match="context"):
        output_scores(model, sae, ["  "])
    with pytest.raises(ValueError, match="measure"):
        output_scores(model, sae, TEXTS, measure="rank")
    with pytest.raises(ValueError, match="rho"):
        output_scores(model, sae, TEXTS, rho=float("nan"))
