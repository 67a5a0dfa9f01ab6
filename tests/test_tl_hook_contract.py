"""TransformerLens users keep control of what tl-reasoning installs (issue 17): our edits, logits edits and
captures are HookPoint hooks, listed in ``fwd_hooks`` and removed by ``model.reset_hooks``."""

from __future__ import annotations

import pytest
import torch

from tl_reasoning import backend_for, load_sae, steer

SITE = "blocks.0.hook_resid_post"
FEATURES = [3, 7]


@pytest.fixture(scope="module")
def sae(tiny_sae_dir):
    return load_sae(tiny_sae_dir)


def _logits(model, ids):
    with torch.no_grad():
        return model(ids, return_type="logits")


@pytest.mark.parametrize("kind", ["hooked", "bridge"])
def test_steering_is_listed_in_fwd_hooks_and_removed_by_handle(models, sae, kind):
    model = models[kind]
    point = model.hook_dict[SITE]
    before = len(point.fwd_hooks)
    with steer(model, sae, FEATURES, strength=6.0, f_max=[3.0, 2.0], site=SITE):
        labels = [repr(h.user_hook) if hasattr(h, "user_hook") else "" for h in point.fwd_hooks]
        assert len(point.fwd_hooks) == before + 1
        assert any("tl_reasoning edit at" in label for label in labels), labels
        assert point.has_hooks(dir="fwd")
    assert len(point.fwd_hooks) == before
    assert len(point._forward_hooks) == 0


@pytest.mark.parametrize("kind", ["hooked", "bridge"])
@pytest.mark.parametrize("including_permanent", [True, False])
def test_reset_hooks_unsteers_and_handle_remove_stays_safe(models, sae, kind, including_permanent):
    model = models[kind]
    backend = backend_for(model)
    ids = backend.tokenize(["wait, let me check"]).input_ids
    clean = _logits(model, ids)
    with steer(model, sae, FEATURES, strength=6.0, f_max=[3.0, 2.0], site=SITE) as handle:
        steered = _logits(model, ids)
        assert (steered - clean).abs().max() > 1e-2, "the steering did nothing"
        model.reset_hooks(including_permanent=including_permanent)
        torch.testing.assert_close(_logits(model, ids), clean)
        assert model.hook_dict[SITE].fwd_hooks == []
    handle.remove()  # idempotent after the user's reset and the block's own removal
    torch.testing.assert_close(_logits(model, ids), clean)


@pytest.mark.parametrize("kind", ["hooked", "bridge"])
def test_exception_inside_block_removes_lens_hooks(models, sae, kind):
    model = models[kind]
    with pytest.raises(RuntimeError, match="boom"):
        with steer(model, sae, FEATURES, strength=6.0, f_max=[3.0, 2.0], site=SITE, positions="generated"):
            assert model.hook_dict[SITE].fwd_hooks
            raise RuntimeError("boom")
    for point in model.hook_dict.values():
        assert point.fwd_hooks == [] and len(point._forward_hooks) == 0


@pytest.mark.parametrize("kind", ["hooked", "bridge"])
def test_user_hooks_survive_our_removal_and_ours_survive_run_with_hooks(models, sae, kind):
    model = models[kind]
    backend = backend_for(model)
    ids = backend.tokenize(["the cat"]).input_ids
    seen = []
    model.hook_dict[SITE].add_hook(lambda act, hook: seen.append(1), dir="fwd")
    try:
        with steer(model, sae, FEATURES, strength=6.0, f_max=[3.0, 2.0], site=SITE):
            steered = _logits(model, ids)
            # run_with_hooks resets only its own level: our steering stays on
            with torch.no_grad():
                again = model.run_with_hooks(ids, return_type="logits", fwd_hooks=[(SITE, lambda a, hook: None)])
            torch.testing.assert_close(again, steered)
        assert len(model.hook_dict[SITE].fwd_hooks) == 1  # the user's hook is still there
        seen.clear()
        _logits(model, ids)
        assert seen == [1]
    finally:
        model.reset_hooks()


def test_logits_edit_is_a_lens_hook(models):
    model = models["hooked"]
    backend = backend_for(model)
    ids = backend.tokenize(["the cat"]).input_ids
    clean = _logits(model, ids)
    handle = backend.add_logits_edit(lambda logits, pos: logits + 1.0)
    try:
        assert len(model.hook_dict["unembed.hook_out"].fwd_hooks) == 1
        model.reset_hooks()
        torch.testing.assert_close(_logits(model, ids), clean)
    finally:
        handle.remove()
        handle.remove()


def test_reset_hooks_keeps_the_bridge_kv_cache_repair(models):
    from transformer_lens.model_bridge.generalized_components.attention import AttentionBridge

    model = models["bridge"]
    attention = [m for m in model.modules() if isinstance(m, AttentionBridge)]
    assert attention
    model.reset_hooks(including_permanent=True)
    assert all(len(m._forward_pre_hooks) >= 1 for m in attention)
