"""Intervention factories against hand-written formulas and full sae-lens encode/decode."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import D_MODEL
from tl_reasoning import SAEWeights, feature_steering, get_registry
from tl_reasoning.interventions import LatentReader, ablate, additive, cap, clamp, preserve_norm

D_SAE = 128
POS = torch.arange(5)



def _sae(arch: str, **extra):
    from sae_lens import SAE, JumpReLUSAEConfig, StandardSAEConfig, TopKSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    meta = SAEMetadata(hook_name="blocks.1.hook_resid_post", model_name="tiny", hook_head_index=None)
    cfg = {"standard": StandardSAEConfig, "jumprelu": JumpReLUSAEConfig, "topk": TopKSAEConfig}[arch]
    if arch == "topk":
        extra.setdefault("k", 8)
    sae = SAE.from_dict(cfg(d_in=D_MODEL, d_sae=D_SAE, metadata=meta, **extra).to_dict())
    with torch.no_grad():
        sae.b_enc.normal_(0, 0.5)
        sae.b_dec.normal_(0, 0.5)
        sae.W_dec.mul_(torch.rand(D_SAE, 1) * 2 + 0.5)  # rows of unequal norms
        if arch == "jumprelu":
            sae.threshold.uniform_(0.0, 0.6)
    return sae


def _x():
    return 2 * torch.randn(2, 5, D_MODEL)


def _full_sae_clamp(sae, x, features, targets):
    """The official formula: encode, set latents, decode, add the error x − x̂."""
    with torch.no_grad():
        f = sae.encode(x)
        f_new = f.clone()
        for feat, target in zip(features, targets, strict=True):
            f_new[..., feat] = target
        return sae.decode(f_new) + (x - sae.decode(f))


SAE_KINDS = [("standard", {}), ("standard", {"apply_b_dec_to_input": True}), ("jumprelu", {}), ("topk", {}),
             ("topk", {"rescale_acts_by_decoder_norm": True})]


@pytest.mark.parametrize(("arch", "extra"), SAE_KINDS)
def test_clamp_equals_sae_lens_encode_set_decode_plus_error(arch, extra):
    sae = _sae(arch, **extra)
    x = _x()
    with torch.no_grad():
        active = (sae.encode(x) > 0).float().sum(dim=(0, 1))
    features = [int(active.argmax()), 5]  # one often-active feature: its f_i(x) matters
    steering = feature_steering(sae, features, strength=[2.0, -1.0], mode="clamp", f_max=[1.5, 3.0])
    expected = _full_sae_clamp(sae, x, features, [3.0, -3.0])
    torch.testing.assert_close(steering.edit(x, POS), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("arch", "extra"), SAE_KINDS)
def test_latent_ablation_equals_sae_lens_zeroing_plus_error(arch, extra):
    sae = _sae(arch, **extra)
    x = _x()
    features = [3, 40]
    steering = feature_steering(sae, features, mode="ablate")
    torch.testing.assert_close(steering.edit(x, POS), _full_sae_clamp(sae, x, features, [0.0, 0.0]),
                               atol=1e-4, rtol=1e-4)


def test_topk_reader_uses_the_full_encoder():
    """f_i of a TopK SAE depends on the other features: selected columns alone would be wrong."""
    sae = _sae("topk", k=2)
    reader = LatentReader.from_sae(sae, [7])
    assert reader.kind == "topk" and reader.W_enc.shape == (D_MODEL, D_SAE)
    x = _x()
    torch.testing.assert_close(reader.function()(x)[..., 0], sae.encode(x)[..., 7].detach())


def test_per_token_normalised_saes_are_refused():
    """A layer_norm SAE has no fixed d_i (a unit of a latent adds a token-dependent vector): every mode refuses."""
    sae = _sae("standard", normalize_activations="layer_norm")
    with pytest.raises(ValueError, match="layer_norm.*depends on the token"):
        LatentReader.from_sae(sae, [1])
    for mode in ("clamp", "add", "cap"):
        with pytest.raises(ValueError, match="layer_norm.*depends on the token"):
            feature_steering(sae, [1], mode=mode, f_max=1.0)


def test_cap_matches_projection_formula_and_true_cap():
    sae = _sae("standard")
    x = _x()
    w = SAEWeights.from_sae(sae, [9])
    d = (sae.W_dec[9] / sae.W_dec[9].norm()).detach()
    target = 0.5 * 2.0
    expected = x - (x @ d)[..., None] * d + target * d
    torch.testing.assert_close(cap(w, [9], 0.5, 2.0)(x, POS), expected, atol=1e-5, rtol=1e-5)
    capped = cap(w, [9], 0.5, 2.0, only_above=True)(x, POS)
    above = ((x @ d) > target)[..., None]
    torch.testing.assert_close(capped, torch.where(above, expected, x), atol=1e-5, rtol=1e-5)
    assert bool(above.any()) and bool((~above).any())


def test_cap_applies_features_in_order():
    sae = _sae("standard")
    x = _x()
    w = SAEWeights.from_sae(sae, [2, 11])
    out = x
    for j, feat in enumerate([2, 11]):
        d = (sae.W_dec[feat] / sae.W_dec[feat].norm()).detach()
        out = out - (out @ d)[..., None] * d + [1.0, -2.0][j] * d
    torch.testing.assert_close(cap(w, [2, 11], [1.0, -2.0], 1.0)(x, POS), out, atol=1e-5, rtol=1e-5)


def test_direction_ablation_removes_the_span():
    sae = _sae("standard")
    x = _x()
    w = SAEWeights.from_sae(sae, [4])
    d = (sae.W_dec[4] / sae.W_dec[4].norm()).detach()
    torch.testing.assert_close(ablate(w, [4], how="direction")(x, POS), x - (x @ d)[..., None] * d,
                               atol=1e-5, rtol=1e-5)
    two = SAEWeights.from_sae(sae, [4, 8])
    out = ablate(two, [4, 8], how="direction")(x, POS)
    assert float((out @ sae.W_dec[[4, 8]].detach().T).abs().max()) < 1e-4
    with pytest.raises(ValueError, match="how='sideways'.*'latent'"):
        ablate(w, [4], how="sideways")


def test_add_is_the_hand_formula_and_gamma_zero_is_identity():
    sae = _sae("standard")
    x = _x()
    w = SAEWeights.from_sae(sae, [1, 2])
    expected = x + 2.0 * 3.0 * sae.W_dec[1].detach() + 2.0 * 0.5 * sae.W_dec[2].detach()
    torch.testing.assert_close(additive(w, [1, 2], 2.0, [3.0, 0.5])(x, POS), expected, atol=1e-5, rtol=1e-5)
    assert torch.equal(additive(w, [1, 2], 0.0, [3.0, 0.5])(x, POS), x)


@pytest.mark.parametrize("mode", ["add", "clamp", "cap"])
def test_per_row_strengths_equal_rows_one_by_one(mode):
    sae = _sae("standard")
    x = 2 * torch.randn(3, 5, D_MODEL)
    strengths = torch.tensor([[0.0, 1.0], [2.0, -1.0], [4.0, 0.5]])
    batched = feature_steering(sae, [3, 7], strength=strengths, mode=mode, f_max=[1.0, 2.0]).edit(x, POS)
    for row in range(3):
        alone = feature_steering(sae, [3, 7], strength=strengths[row], mode=mode, f_max=[1.0, 2.0]).edit(
            x[row:row + 1], POS)
        torch.testing.assert_close(batched[row:row + 1], alone, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="3 rows but the batch has 2"):
        feature_steering(sae, [3, 7], strength=strengths, mode=mode, f_max=1.0).edit(x[:2], POS)


def test_preserve_norm_keeps_token_norms():
    sae = _sae("standard")
    x = _x()
    edit = preserve_norm(additive(SAEWeights.from_sae(sae, [0]), [0], 8.0, 2.0))
    out = edit(x, POS)
    torch.testing.assert_close(out.norm(dim=-1), x.norm(dim=-1), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(out, x)


def test_builtin_modes_are_registered():
    registry = get_registry("intervention")
    assert registry.get("add").obj is additive and registry.get("clamp").obj is clamp
    assert registry.get("cap").obj is cap and registry.get("ablate").obj is ablate


def test_bad_inputs_have_clear_errors():
    sae = _sae("standard")
    with pytest.raises(ValueError, match="feature index 128 is out of range.*d_sae=128"):
        feature_steering(sae, [128], f_max=1.0)
    with pytest.raises(ValueError, match="unknown steering mode 'boost'.*registered modes: ") as info:
        feature_steering(sae, [1], mode="boost", f_max=1.0)
    listed = str(info.value).split("registered modes: ")[1].split(" (")[0].split(", ")
    assert {"ablate", "add", "cap", "clamp"} <= set(listed)  # installed plugins may add more
    with pytest.raises(ValueError, match="mode 'add' needs f_max.*estimate_f_max"):
        feature_steering(sae, [1], mode="add")
    with pytest.raises(ValueError, match="strength needs one value or one per feature"):
        feature_steering(sae, [1, 2], strength=[1.0, 2.0, 3.0], f_max=1.0)
    with pytest.raises(ValueError, match=r"per-row strength needs shape \[batch, 2\]"):
        feature_steering(sae, [1, 2], strength=torch.ones(3, 3), f_max=1.0)
    with pytest.raises(ValueError, match="do not match the features"):
        additive(SAEWeights.from_sae(sae, [1]), [2], 1.0, 1.0)


def test_edit_functions_close_over_plain_tensors_only():
    """Remote safety: nothing from sae-lens or tl_reasoning objects is captured by the edit."""
    sae = _sae("jumprelu")
    for mode in ("add", "clamp", "cap", "ablate"):
        edit = feature_steering(sae, [1, 2], mode=mode, f_max=1.0).edit
        cells = [c.cell_contents for c in (edit.__closure__ or ())]
        inner = [c for c in cells if callable(c)]
        for fn in [edit, *inner]:
            for cell in fn.__closure__ or ():
                value = cell.cell_contents
                assert isinstance(value, torch.Tensor | bool | int | float | str | type(None)) or callable(value), \
                    f"{mode}: closes over {type(value)}"


def test_plugin_interventions_get_exact_latents_and_may_skip_f_max():
    from tl_reasoning import hookimpl, registered_plugin

    seen = {}

    def shift(weights, features, strength, f_max, latents=None):
        seen.update(latents=latents, f_max=f_max)
        return lambda act, positions: act

    shift.uses_f_max = False

    class Plugin:
        @hookimpl
        def tl_reasoning_register_interventions(self, register):
            register("shift_test", shift, "test intervention without f_max")

    sae = _sae("topk", k=4)
    with registered_plugin(Plugin(), "shift-test-plugin"):
        feature_steering(sae, [2, 5], mode="shift_test")  # no f_max needed
        assert isinstance(seen["latents"], LatentReader) and seen["f_max"] is None
        x = torch.randn(3, D_MODEL)
        assert torch.allclose(seen["latents"].function()(x), sae.encode(x)[:, [2, 5]], atol=1e-5)  # exact TopK latents
    with pytest.raises(ValueError, match="needs f_max"):
        feature_steering(sae, [2], mode="add")
