"""Steering the shipped model organism: same tokens on every backend, with and without the KV cache."""

from __future__ import annotations

import warnings


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
