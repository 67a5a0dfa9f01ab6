"""Steering during generation: positions, KV cache, per-row batches, backends, hook hygiene."""

from __future__ import annotations

import pytest
import torch

from tl_reasoning import (
    Steering,
    add_steering,
    backend_for,
    feature_steering,
    generate,
    load_sae,
    steer,
)
from tl_reasoning.positions import Positions

SITE = "blocks.0.hook_resid_post"
PROMPTS = ["wait, let me check", "the cat"]  # different lengths: left padding in a batch
FEATURES = [3, 7]
N_NEW = 8



@pytest.fixture(scope="module")
def sae(tiny_sae_dir):
    return load_sae(tiny_sae_dir)


def _steering(sae, mode="add", positions="all", strength=6.0, **kw):
    return feature_steering(sae, FEATURES, strength=strength, mode=mode, f_max=[3.0, 2.0], positions=positions,
                            site=SITE, **kw)


def _tokens(gens):
    return [g.tokens for g in gens]


def _record_edited(model, steering, prompts, think_end, use_cache=True):
    """Generate with ``steering`` between two recorders at its site: which (row, position) changed."""
    backend = backend_for(model)
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []
    after: list[torch.Tensor] = []
    before_h = backend.add_edit(SITE, lambda a, p: (calls.append((a.clone(), p.clone())), a)[1])
    handle = add_steering(model, steerings=steering, think_end=think_end)
    after_h = backend.add_edit(SITE, lambda a, p: (after.append(a.clone()), a)[1])
    try:
        batch = backend.tokenize(prompts, padding_side="left")
        out = backend.generate(batch.input_ids, batch.attention_mask, max_new_tokens=N_NEW, stop_at_eos=False,
                               use_cache=use_cache)
    finally:
        for h in (before_h, handle, after_h):
            h.remove()
    edited, fed = set(), set()
    for (act, pos), new in zip(calls, after, strict=True):
        changed = (new - act).abs().amax(dim=-1) > 0
        for row in range(act.shape[0]):
            for t, p in enumerate(pos.tolist()):
                fed.add((row, p))
                if changed[row, t]:
                    edited.add((row, p))
    return out, edited, fed, batch


def _expected(rule: Positions, out, fed, batch, think_end):
    prompt_len = batch.input_ids.shape[1]
    pad = (batch.attention_mask == 0).sum(dim=1).tolist()
    want = set()
    for row, p in fed:
        if rule.mode == "all":
            ok = True
        elif rule.mode == "prompt":
            ok = p < prompt_len
        elif rule.mode == "generated":
            ok = p >= prompt_len
        elif rule.mode == "thinking":
            ok = p >= prompt_len and think_end not in out[row, prompt_len:p + 1].tolist()
        else:
            rel = p - pad[row]
            ok = rule.start <= rel < (rule.end if rule.end is not None else 10**9)
        if ok:
            want.add((row, p))
    return want


def _think_end(model, sae):
    """A token the steered model emits at new-token index 2 of row 0: thinking closes mid-generation."""
    probe = generate(model, PROMPTS, N_NEW, _steering(sae, positions="thinking"), think_end=0)
    return probe[0].tokens[2]


POSITION_RULES = ["all", "prompt", "generated", "thinking", "2:7"]


@pytest.mark.parametrize("positions", POSITION_RULES)
def test_positions_edit_exactly_the_intended_positions_with_and_without_cache(models, sae, backend_name, positions):
    model = models[backend_name]
    think_end = _think_end(model, sae)
    rule = Positions.parse(positions)
    results = {}
    for use_cache in (True, False):
        out, edited, fed, batch = _record_edited(model, _steering(sae, positions=positions), PROMPTS, think_end,
                                                 use_cache)
        want = _expected(rule, out, fed, batch, think_end)
        assert edited == want, f"{backend_name} {positions} cache={use_cache}: {sorted(edited ^ want)[:6]}"
        assert want, "the rule selected nothing: the test would be vacuous"
        results[use_cache] = out
    assert torch.equal(results[True], results[False]), f"{backend_name} {positions}: KV cache changed the tokens"
    if positions == "thinking":
        prompt_len = batch.input_ids.shape[1]
        assert any(r == 0 and p >= prompt_len for r, p in fed - edited), "row 0 never closed its thinking"


@pytest.mark.parametrize("mode", ["add", "clamp", "cap", "ablate"])
def test_same_tokens_on_every_backend_and_cache_invariant(models, sae, mode):
    strengths = torch.tensor([[6.0, -2.0], [3.0, 4.0]])
    outs = {}
    for name, model in models.items():
        steering = _steering(sae, mode=mode, positions="generated", strength=strengths)
        cached = _tokens(generate(model, PROMPTS, N_NEW, steering))
        uncached = _tokens(generate(model, PROMPTS, N_NEW, steering, use_cache=False))
        assert cached == uncached, f"{name} {mode}: KV cache changed the steered tokens"
        outs[name] = cached
    assert outs["bridge"] == outs["hooked"] and outs["nnsight"] == outs["hooked"], mode


def test_steering_changes_generation_and_gamma_zero_reproduces_it(models, sae, backend_name):
    model = models[backend_name]
    base = _tokens(generate(model, PROMPTS, N_NEW))
    assert _tokens(generate(model, PROMPTS, N_NEW, _steering(sae, strength=6.0))) != base
    assert _tokens(generate(model, PROMPTS, N_NEW, _steering(sae, strength=0.0))) == base
    assert _tokens(generate(model, PROMPTS, N_NEW, _steering(sae, strength=0.0, positions="thinking"),
                            think_end=5)) == base


@pytest.mark.parametrize(("mode", "positions"), [("add", "thinking"), ("clamp", "1:6"), ("cap", "all")])
def test_per_row_strengths_in_one_batch_equal_rows_one_by_one(models, sae, backend_name, mode, positions):
    model = models[backend_name]
    prompts = ["wait, let me check", "the cat", "but therefore"]
    strengths = torch.tensor([[6.0, 0.0], [0.0, 0.0], [-3.0, 5.0]])
    think_end = _think_end(model, sae)
    batched = generate(model, prompts, N_NEW, _steering(sae, mode, positions, strengths), think_end=think_end)
    for row, prompt in enumerate(prompts):
        alone = generate(model, prompt, N_NEW, _steering(sae, mode, positions, strengths[row]), think_end=think_end)
        assert batched[row].tokens == alone[0].tokens, f"{backend_name} row {row}"
    assert len({tuple(g.tokens) for g in batched}) > 1


@pytest.mark.parametrize("kind", ["hooked", "bridge"])
def test_user_generate_in_a_tl_session_equals_a_hand_written_hook(models, sae, kind):
    model = models[kind]
    prompt = backend_for(model).tokenize("wait, let me").input_ids
    vector = (6.0 * 3.0 * sae.W_dec[3] + 6.0 * 2.0 * sae.W_dec[7]).detach()

    def run():
        return model.generate(prompt, max_new_tokens=N_NEW, do_sample=False, verbose=False, stop_at_eos=False)

    clean = run()
    with model.hooks(fwd_hooks=[(SITE, lambda act, hook: act + vector)]):
        by_hand = run()
    with steer(model, sae, FEATURES, strength=6.0, f_max=[3.0, 2.0], site=SITE) as handle:
        steered = run()
        assert handle.active
    assert torch.equal(steered, by_hand) and not torch.equal(steered, clean)
    handle = add_steering(model, sae, FEATURES, strength=6.0, f_max=[3.0, 2.0], site=SITE, positions="generated")
    try:
        assert not torch.equal(run(), clean)
    finally:
        handle.remove()
    assert torch.equal(run(), clean) and not handle.active


def _assert_clean(model, backend, site=SITE):
    assert backend.edits == [] and backend.token_observers == []
    if backend.kind != "nnsight":
        for name, hook_point in model.hook_dict.items():
            assert len(hook_point._forward_hooks) == 0, name
        assert len(model.embed._forward_pre_hooks) == 0


def test_exception_during_generation_leaves_nothing_behind(models, sae, backend_name):
    model = models[backend_name]
    backend = backend_for(model)
    batch = backend.tokenize(PROMPTS, padding_side="left")
    before = backend.generate(batch.input_ids, batch.attention_mask, max_new_tokens=N_NEW)
    calls = []

    def failing(act, positions):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom in step 3")
        return act + 1.0

    bad = Steering("blocks.1.hook_resid_post", failing, Positions.parse("thinking"))
    with pytest.raises(RuntimeError, match="boom in step 3"):
        with steer(model, sae, FEATURES, f_max=1.0, site=SITE, positions="generated", steerings=[bad],
                   think_end=5):
            backend.generate(batch.input_ids, batch.attention_mask, max_new_tokens=N_NEW)
    _assert_clean(model, backend)
    calls.clear()
    with pytest.raises(RuntimeError, match="boom in step 3"):
        generate(model, PROMPTS, N_NEW, [_steering(sae, positions="2:5"), bad], think_end=5)
    _assert_clean(model, backend)
    after = backend.generate(batch.input_ids, batch.attention_mask, max_new_tokens=N_NEW)
    assert torch.equal(before, after)


def test_failed_installation_is_rolled_back(models, sae):
    model = models["hooked"]
    backend = backend_for(model)
    ok = _steering(sae, positions="generated")
    wrong_site = Steering("blocks.9.hook_resid_post", ok.edit)
    with pytest.raises(ValueError, match="2 layers"):
        add_steering(model, steerings=[ok, wrong_site])
    _assert_clean(model, backend)
    with pytest.raises(ValueError, match="'<no such token>' is .* tokens.*think_end"):
        add_steering(model, steerings=[_steering(sae, positions="thinking")], think_end="<no such token>")
    _assert_clean(model, backend)


def test_several_sites_and_features_at_once(models, sae):
    model = models["hooked"]
    one = _steering(sae, strength=1.0)
    two = feature_steering(sae, [11, 12], strength=2.0, mode="cap", f_max=4.0, site="blocks.1.hook_resid_post",
                           positions="generated")
    base = _tokens(generate(model, PROMPTS, N_NEW))
    both = _tokens(generate(model, PROMPTS, N_NEW, [one, two]))
    assert both != _tokens(generate(model, PROMPTS, N_NEW, one)) and both != base
    outs = {name: _tokens(generate(m, PROMPTS, N_NEW, [one, two])) for name, m in models.items()}
    assert outs["bridge"] == both and outs["nnsight"] == both


def test_bad_api_use_has_clear_errors(models, sae):
    model = models["hooked"]
    with pytest.raises(ValueError, match="needs features"):
        add_steering(model, sae)
    with pytest.raises(ValueError, match="nothing to steer"):
        add_steering(model)
    with pytest.raises(ValueError, match="unknown positions 'middle'"):
        _steering(sae, positions="middle")
    with pytest.raises(ValueError, match="0 <= start < end"):
        _steering(sae, positions="9:3")


def test_tracker_windows_count_from_each_rows_first_real_token():
    from tl_reasoning.positions import PositionTracker

    for pad, bos, ids in ((0, 1, [[0, 0, 1, 5, 6], [1, 7, 8, 9, 10]]),   # distinct pad
                          (1, 1, [[1, 1, 1, 5, 6], [1, 7, 8, 9, 10]])):  # pad id == BOS id
        tracker = PositionTracker(pad_token_id=pad, bos_token_id=bos)
        tracker.observe(torch.tensor(ids), torch.arange(5))
        got = tracker.mask(Positions.parse("1:3"), torch.arange(5))
        assert got.tolist() == [[False, False, False, True, True], [False, True, True, False, False]]
        tracker.observe(torch.tensor([[4], [4]]), torch.tensor([5]))  # a cached decoding step
        assert tracker.mask(Positions.parse("generated"), torch.tensor([5])).tolist() == [[True], [True]]
        assert tracker.mask(Positions.parse("prompt"), torch.arange(6)).sum().item() == 10
