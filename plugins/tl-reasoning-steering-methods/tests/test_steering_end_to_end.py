"""The methods as installed plugins: registry, feature_steering + generate on the organism, every backend, CLI, view."""

from __future__ import annotations

import json

import pytest
import torch

from tl_reasoning import backend_for, feature_steering, generate, load_benchmark
from tl_reasoning.plugins import get_registry, plugin_report

PROMPTS = [item["prompt"] for item in load_benchmark("organism")[:2]]
TOKENS = 12
TEXT = PROMPTS[0] + "<think>\nLet me add 959 and 928 column by column."


def partial_features(model, sae, text: str = TEXT, n: int = 2) -> list[int]:
    """The ``n`` SAE features whose firing share on ``text`` is closest to one half (they fire on some tokens only)."""
    backend = backend_for(model)
    ids = backend.tokenize([text]).input_ids
    act = backend.capture(ids, [sae.cfg.metadata.hook_name])[sae.cfg.metadata.hook_name]
    with torch.no_grad():
        share = (sae.encode(act)[0] > 0).float().mean(dim=0)
    share[share == 0] = -1.0  # never silent everywhere
    return sorted((share - 0.5).abs().argsort()[:n].tolist())


def test_registered_through_entry_point():
    infos, failures = plugin_report()
    info = {i.name: i for i in infos}["steering_methods"]
    assert info.distribution == "tl-reasoning-steering-methods"
    assert info.registered == {"intervention": ["angular", "conditional", "scale"],
                               "visualization": ["steering_edit"]}
    assert not [f for f in failures if f.name == "steering_methods"]
    from tl_reasoning_steering_methods import angular

    assert get_registry("intervention").get("angular").obj is angular


def test_angular_generates_the_same_tokens_on_every_backend(sae, load_organism):
    steering = feature_steering(sae, [0, 1], mode="angular", strength=60.0, f_max=1.0)
    assert steering.info["mode"] == "angular"
    outs = {name: [g.tokens for g in generate(load_organism(name), PROMPTS, TOKENS, steering)]
            for name in ("hooked", "bridge", "nnsight")}
    assert outs["bridge"] == outs["hooked"] and outs["nnsight"] == outs["hooked"]
    baseline = [g.tokens for g in generate(load_organism("hooked"), PROMPTS, TOKENS)]
    assert outs["hooked"] != baseline
    assert backend_for(load_organism("hooked")).edits == []


@pytest.mark.parametrize("mode,options", [
    ("conditional", {"scope": "sequence", "threshold": 0.0}),
    ("scale", {}),
])
def test_latent_methods_steer_and_agree_with_and_without_the_cache(sae, mode, options, load_organism):
    from tl_reasoning.interventions import LatentReader

    model = load_organism("hooked")
    features = partial_features(model, sae)
    latents = LatentReader.from_sae(sae, features)  # the organism's SAE is TopK: exact latents
    steering = feature_steering(sae, features, mode=mode, strength=6.0, f_max=5.0, latents=latents, **options)
    cached = [g.tokens for g in generate(model, PROMPTS, TOKENS, steering)]
    uncached = [g.tokens for g in generate(model, PROMPTS, TOKENS, steering, use_cache=False)]
    assert cached == uncached
    assert cached != [g.tokens for g in generate(model, PROMPTS, TOKENS)]


def test_edits_are_remote_safe_in_nnsight_local_simulation(sae, load_organism):
    from tl_reasoning.interventions import LatentReader

    model = load_organism("nnsight")
    features = partial_features(model, sae)
    for steering in (
        feature_steering(sae, features, mode="angular", strength=60.0, f_max=1.0, rotation="target"),
        feature_steering(sae, features, mode="conditional", strength=6.0, f_max=5.0, scope="sequence",
                         latents=LatentReader.from_sae(sae, features)),
    ):
        local = [g.tokens for g in generate(model, PROMPTS, 6, steering)]
        remote = [g.tokens for g in generate(model, PROMPTS, 6, steering, remote="local")]
        assert remote == local, steering.info["mode"]


def test_cli_steer_with_a_plugin_mode(capsys):
    from tl_reasoning.cli import main

    assert main(["steer", "--model", "organism", "--sae", "organism", "--backend", "hooked", "--feature", "0",
                 "--feature", "1", "--mode", "angular", "--strength", "60", "--f-max", "1", "--prompt", PROMPTS[0],
                 "--max-new-tokens", "8", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["mode"] == "angular" and data["steered"]["tokens"] != data["baseline"]["tokens"]


def test_steering_edit_view_shows_where_the_gate_opened(sae, load_organism):
    from tl_reasoning import get_registry
    from tl_reasoning.interventions import LatentReader

    model = load_organism("hooked")
    text = TEXT
    feature = partial_features(model, sae, n=1)
    latents = LatentReader.from_sae(sae, feature)
    steering = feature_steering(sae, feature, mode="conditional", strength=2.0, f_max=5.0, latents=latents)
    view = get_registry("visualization").get("steering_edit").obj(model, steering, text)
    backend = backend_for(model)
    ids = backend.tokenize([text]).input_ids
    act = backend.capture(ids, [steering.site])[steering.site]
    fires = (latents.function()(act)[0, :, 0] > 0).tolist()
    changed = [d > 0 for d in view.data["delta"]]
    assert changed == fires and 0 < sum(fires) < len(fires)
    onehot = torch.zeros(2, int(sae.cfg.d_sae))
    onehot[0, feature[0]] = 1.0
    with torch.no_grad():
        recon = sae.decode(onehot)
    step = 2.0 * 5.0 * float((recon[0] - recon[1]).norm())  # γ·f_max·‖d_i‖, d_i = decode(e_i) − decode(0)
    assert view.data["relative"] == pytest.approx(
        [step / n if f else 0.0
         for f, n in zip(fires, act[0].norm(dim=-1).tolist(), strict=True)], rel=1e-4)
    assert view.data["tokens"] == backend.to_str_tokens(ids[0])
    assert "ColoredTokens" in view.html and f"{sum(fires)} of {len(fires)} tokens changed" in view.html
    # an angular edit changes every token by the same angle
    turned = get_registry("visualization").get("steering_edit").obj(
        model, feature_steering(sae, feature, mode="angular", strength=5.0, f_max=1.0), text, value="angle")
    assert turned.data["angle"] == pytest.approx([5.0] * len(fires), abs=0.05)
    assert torch.tensor(turned.data["relative"]).max() < 0.1


def _reachable(fn, seen=None):
    """Every value an edit can reach at call time: its closure cells and the globals its code names, recursively."""
    import types

    seen = set() if seen is None else seen
    if id(fn) in seen:
        return []
    seen.add(id(fn))
    found = []
    names = set(fn.__code__.co_names)
    for const in fn.__code__.co_consts:  # nested functions defined inside the edit
        if isinstance(const, types.CodeType):
            names |= set(const.co_names)
    cells = [c.cell_contents for c in fn.__closure__ or ()]
    globals_used = [fn.__globals__[n] for n in names if n in fn.__globals__]
    for value in [*cells, *globals_used]:
        found.append(value)
        if isinstance(value, types.FunctionType):
            found.extend(_reachable(value, seen))
    return found


@pytest.mark.parametrize("mode,options", [
    ("angular", {}), ("angular", {"rotation": "target", "plane": "ones"}),
    ("conditional", {"scope": "sequence"}), ("conditional", {"condition": "ones"}),
    ("scale", {}), ("scale", {"how": "projection"}),
])
def test_edits_reach_only_torch_math_and_plain_values(sae, mode, options):
    """Remote safety: what an edit can touch when it runs is torch, math, tensors and plain Python values."""
    import math
    import types

    from tl_reasoning.interventions import LatentReader

    options = {k: torch.ones(int(sae.cfg.d_in)) if v == "ones" else v for k, v in options.items()}  # d_model vectors
    if mode in ("conditional", "scale") and "condition" not in options:
        options = {**options, "latents": LatentReader.from_sae(sae, [3, 5])}
    edit = feature_steering(sae, [3, 5], mode=mode, strength=2.0, f_max=1.0, **options).edit
    for value in _reachable(edit):
        ok = (value is torch or value is math or isinstance(value, torch.Tensor | bool | int | float | str | None)
              or isinstance(value, types.FunctionType | types.BuiltinFunctionType)
              or (isinstance(value, dict) and all(v is None or isinstance(v, torch.Tensor) for v in value.values())))
        assert ok, f"{mode}: the edit reaches a {type(value).__module__}.{type(value).__qualname__}"
