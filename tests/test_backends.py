"""Backends agree with each other and never leave an edit behind."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import D_MODEL, TEXTS
from tl_reasoning import backend_for
from tl_reasoning.backends.base import EditHandle

SITES = ["blocks.0.hook_resid_pre", "blocks.0.hook_attn_out", "blocks.0.hook_resid_mid",
         "blocks.1.hook_mlp_out", "blocks.1.hook_resid_post"]


def _all(models):
    return {name: backend_for(m) for name, m in models.items()}


def _positional_edit(vector):
    """Adds ``vector`` at every third absolute position: depends on correct position tracking."""

    def edit(act, positions):
        mask = (positions % 3 == 0).to(act.dtype)[None, :, None]
        return act + mask * vector.to(act.dtype)

    return edit


def test_tokenize_prepends_bos_once_and_pads(backend):
    batch = backend.tokenize(["the cat", "<s>wait"], padding_side="right")
    assert batch.input_ids[0, 0].item() == backend.bos_token_id
    assert batch.input_ids[1, 0].item() == backend.bos_token_id and batch.input_ids[1, 1].item() != backend.bos_token_id
    short = int(batch.attention_mask[0].sum())
    assert (batch.input_ids[0, short:] == backend.pad_token_id).all()
    left = backend.tokenize(["the cat", "wait, let me check"], padding_side="left")
    assert left.attention_mask[0, 0].item() == 0 and left.attention_mask[0, -1].item() == 1


def test_capture_identical_across_backends(models):
    backends = _all(models)
    ids = backends["hooked"].tokenize(TEXTS).input_ids
    ref = backends["hooked"].capture(ids, SITES)
    for name in ("bridge", "nnsight"):
        got = backends[name].capture(ids, SITES)
        assert list(got) == SITES
        for site in SITES:
            assert got[site].shape == (len(TEXTS), ids.shape[1], D_MODEL)
            torch.testing.assert_close(got[site], ref[site], atol=1e-5, rtol=1e-5, msg=f"{name} {site}")


def test_capture_matches_plain_forward_of_hf(models, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    backend = backend_for(models["hooked"])
    ids = backend.tokenize(TEXTS[:2]).input_ids
    hidden = hf(ids, output_hidden_states=True).hidden_states
    got = backend.capture(ids, ["blocks.0.hook_resid_post"])["blocks.0.hook_resid_post"]
    torch.testing.assert_close(got, hidden[1], atol=1e-5, rtol=1e-5)


def test_capture_stops_early(backend, monkeypatch):
    """Layers after the last requested site never run."""
    calls = []
    if backend.kind == "nnsight":
        module = backend._hf.model.layers[1]
    else:
        module = backend.model.blocks[1]
    handle = module.register_forward_hook(lambda *a: calls.append(1))
    try:
        backend.capture(backend.tokenize(TEXTS[:1]).input_ids, ["blocks.0.hook_resid_post"])
        assert calls == []
        backend.forward(backend.tokenize(TEXTS[:1]).input_ids)
        assert calls == [1]
    finally:
        handle.remove()


def test_edit_changes_then_restores(backend):
    ids = backend.tokenize(TEXTS[:2]).input_ids
    clean = backend.forward(ids)
    vector = torch.randn(D_MODEL)
    with backend.edit("blocks.0.hook_resid_post", _positional_edit(vector)) as handle:
        assert isinstance(handle, EditHandle) and backend.edits == [handle]
        edited = backend.forward(ids)
        assert not torch.allclose(edited, clean, atol=1e-3)
    assert backend.edits == []
    torch.testing.assert_close(backend.forward(ids), clean)


def test_edits_identical_across_backends(models):
    backends = _all(models)
    ids = backends["hooked"].tokenize(TEXTS).input_ids
    vector = torch.randn(D_MODEL)
    results = {}
    for name, b in backends.items():
        with b.edit("blocks.0.hook_resid_post", _positional_edit(vector)):
            results[name] = (b.capture(ids, ["blocks.1.hook_resid_post"])["blocks.1.hook_resid_post"], b.forward(ids))
    for name in ("bridge", "nnsight"):
        torch.testing.assert_close(results[name][0], results["hooked"][0], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(results[name][1], results["hooked"][1], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("site", ["blocks.0.hook_resid_post", "blocks.1.hook_resid_pre", "blocks.0.hook_mlp_out",
                                  "blocks.1.hook_attn_out"])
def test_generation_with_edit_same_tokens_everywhere_and_cache_invariant(models, site):
    backends = _all(models)
    prompt = backends["hooked"].tokenize("wait, let me").input_ids
    vector = 4 * torch.randn(D_MODEL)
    outs = {}
    for name, b in backends.items():
        clean = b.generate(prompt, max_new_tokens=8, stop_at_eos=False)
        with b.edit(site, _positional_edit(vector)):
            cached = b.generate(prompt, max_new_tokens=8, stop_at_eos=False)
            uncached = b.generate(prompt, max_new_tokens=8, stop_at_eos=False, use_cache=False)
        assert torch.equal(cached, uncached), f"{name}: KV cache changed the steered tokens"
        outs[name] = (clean, cached)
    for name in ("bridge", "nnsight"):
        assert torch.equal(outs[name][0], outs["hooked"][0]), name
        assert torch.equal(outs[name][1], outs["hooked"][1]), name
    assert not torch.equal(outs["hooked"][0], outs["hooked"][1]), "the edit did not change generation"


def test_exception_inside_edit_block_leaves_model_unchanged(backend):
    ids = backend.tokenize(TEXTS[:1]).input_ids
    clean = backend.forward(ids)
    with pytest.raises(RuntimeError, match="boom"):
        with backend.edit("blocks.0.hook_resid_post", lambda act, pos: act * 0):
            raise RuntimeError("boom")
    assert backend.edits == []
    torch.testing.assert_close(backend.forward(ids), clean)
    if backend.kind != "nnsight":
        hook_point = backend.model.hook_dict["blocks.0.hook_resid_post"]
        assert len(hook_point._forward_hooks) == 0


def test_exception_inside_edit_function_leaves_no_hook(backend):
    ids = backend.tokenize(TEXTS[:1]).input_ids
    clean = backend.forward(ids)

    def bad(act, pos):
        raise ValueError("bad edit")

    with pytest.raises(Exception, match="bad edit"):
        with backend.edit("blocks.1.hook_resid_post", bad):
            backend.generate(ids, max_new_tokens=3)
    assert backend.edits == []
    torch.testing.assert_close(backend.forward(ids), clean)
    if backend.kind != "nnsight":
        for hook_point in backend.model.hook_dict.values():
            assert len(hook_point._forward_hooks) == 0


def test_capture_hooks_removed_after_exception(backend):
    if backend.kind == "nnsight":
        pytest.skip("nnsight captures inside a trace; nothing is installed on the model")
    with pytest.raises(ValueError):
        backend.capture(backend.tokenize(TEXTS[:1]).input_ids, ["blocks.0.hook_resid_post", "blocks.7.hook_resid_post"])
    for hook_point in backend.model.hook_dict.values():
        assert len(hook_point._forward_hooks) == 0


def test_handle_remove_is_idempotent_and_independent(backend):
    ids = backend.tokenize(TEXTS[:1]).input_ids
    clean = backend.forward(ids)
    first = backend.add_edit("blocks.0.hook_resid_post", lambda a, p: a + 1.0)
    second = backend.add_edit("blocks.1.hook_resid_post", lambda a, p: a + 1.0)
    first.remove()
    first.remove()
    assert backend.edits == [second]
    assert not torch.allclose(backend.forward(ids), clean)
    second.remove()
    torch.testing.assert_close(backend.forward(ids), clean)


def test_bad_sites_are_named(backend):
    with pytest.raises(ValueError, match="2 layers"):
        backend.check_site("blocks.2.hook_resid_post")
    with pytest.raises(ValueError, match="cannot parse site"):
        backend.check_site("layers.0.output")


def test_nnsight_resid_mid_is_read_only(models):
    b = backend_for(models["nnsight"])
    with pytest.raises(ValueError, match="read but not edited"):
        b.add_edit("blocks.0.hook_resid_mid", lambda a, p: a)
    assert b.edits == []


def test_stop_at_eos_blanks_rest_the_same_way(models):
    b = backend_for(models["hooked"])
    out = torch.tensor([[1, 5, 6, 9, 2, 7, 2, 8]])
    blanked = b._blank_after_eos(out, prompt_len=3)
    assert blanked.tolist() == [[1, 5, 6, 9, 2, 0, 0, 0]]


def test_user_generate_in_tl_session_is_steered(models):
    """Edits live on the TransformerLens model: the user's own model.generate sees them."""
    model = models["hooked"]
    b = backend_for(model)
    prompt = b.tokenize("wait").input_ids
    clean = model.generate(prompt, max_new_tokens=5, do_sample=False, verbose=False, stop_at_eos=False)
    with b.edit("blocks.0.hook_resid_post", lambda a, p: a + 5 * torch.ones(D_MODEL)):
        steered = model.generate(prompt, max_new_tokens=5, do_sample=False, verbose=False, stop_at_eos=False)
    again = model.generate(prompt, max_new_tokens=5, do_sample=False, verbose=False, stop_at_eos=False)
    assert not torch.equal(clean, steered) and torch.equal(clean, again)


def test_left_padded_batch_generation_matches_single_rows_everywhere(models):
    results = {}
    for name, model in models.items():
        b = backend_for(model)
        batch = b.tokenize(["the cat sat on", "wait"], padding_side="left")
        together = b.generate(batch.input_ids, batch.attention_mask, max_new_tokens=6, stop_at_eos=False)
        alone = b.generate(b.tokenize("wait").input_ids, max_new_tokens=6, stop_at_eos=False)
        assert torch.equal(together[1, -alone.shape[1]:], alone[0]), name
        results[name] = together
    assert torch.equal(results["bridge"], results["hooked"]) and torch.equal(results["nnsight"], results["hooked"])
