"""Steering the shipped model organism: same tokens on every backend, with and without the KV cache."""

from __future__ import annotations

import warnings

import pytest
import torch

import tl_reasoning as tr


def test_organism_thinking_steering_same_everywhere_and_cache_invariant():
    from tl_reasoning import feature_steering, generate, load_benchmark, load_model, load_sae

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {name: load_model("organism", backend=name) for name in ("hooked", "bridge", "nnsight")}
    sae = load_sae("organism")
    prompts = [item["prompt"] for item in load_benchmark("organism")[:2]]
    outs = {}
    for positions in ("thinking", "all"):
        steering = feature_steering(sae, [0, 1], strength=2.0, f_max=5.0, positions=positions)
        for name, model in models.items():
            cached = [g.tokens for g in generate(model, prompts, 40, steering)]
            uncached = [g.tokens for g in generate(model, prompts, 40, steering, use_cache=False)]
            assert cached == uncached, f"{name} {positions}: KV cache changed the tokens"
            outs[name, positions] = cached
        assert outs["bridge", positions] == outs["hooked", positions] == outs["nnsight", positions], positions


@pytest.mark.parametrize("backend_name", ["hooked", "nnsight"])
def test_generation_stops_early_at_eos_with_the_same_tokens(backend_name):
    """Once every row has produced EOS generation may stop; the result keeps its full shape and tokens."""
    model = tr.load_model("organism", backend=backend_name)
    backend = tr.backend_for(model)
    batch = backend.tokenize(["Question: What is 959 + 928?\n", "Question: What is 310 - 102?\n"],
                             padding_side="left")
    budget = 320  # the organism finishes well inside this
    early = backend.generate(batch.input_ids, batch.attention_mask, max_new_tokens=budget)
    full = backend.generate(batch.input_ids, batch.attention_mask, max_new_tokens=budget, stop_at_eos=False)
    assert early.shape == full.shape == (2, batch.input_ids.shape[1] + budget)
    assert torch.equal(early, backend._blank_after_eos(full, batch.input_ids.shape[1]))
    assert (early[:, batch.input_ids.shape[1]:] == backend.eos_token_id).sum(dim=1).tolist() == [1, 1]


def test_generation_beyond_the_context_is_a_clear_error():
    model = tr.load_model("organism", backend="hooked")
    with pytest.raises(ValueError, match=r"exceeds the model's context of 512 tokens; lower max_new_tokens to at most"):
        tr.generate(model, "Question: What is 959 + 928?\n", max_new_tokens=600)
    assert tr.backend_for(model).edits == []
