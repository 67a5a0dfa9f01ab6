"""Steering moves along d_i = decode(e_i) − decode(0) with f_max in ``sae.encode`` units, for every SAE kind.

Four small random sae-lens SAEs: a plain ReLU SAE, a TopK SAE with ``rescale_acts_by_decoder_norm``
(decoder rows of norm 0.2–1.5, so d_i = W_dec[i]/‖W_dec[i]‖ ≠ W_dec[i]), a JumpReLU SAE and one
with ``normalize_activations="expected_average_only_in"``. Every expectation is written from the
SAE's own ``encode``/``decode``, never from tl-reasoning's unit code.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from tests.conftest import D_MODEL
from tl_reasoning import SAEWeights, backend_for, feature_steering, steer

SITE = "blocks.0.hook_resid_post"
LATER = "blocks.1.hook_resid_post"
D_SAE = 48  # <= d_model, so an encoder that exactly inverts the decoder exists (see _inverting)
FEATURES = [5, 17]
F_MAX = [3.0, 1.5]
GAMMA = 2.0
KINDS = ["relu", "topk_rescaled", "jumprelu", "expected_average"]


def _sae(kind: str, seed: int = 0):
    from sae_lens import SAE, JumpReLUSAEConfig, StandardSAEConfig, TopKSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    meta = SAEMetadata(hook_name=SITE, model_name="tiny", hook_head_index=None)
    cfg = {
        "relu": StandardSAEConfig(d_in=D_MODEL, d_sae=D_SAE, metadata=meta),
        "topk_rescaled": TopKSAEConfig(d_in=D_MODEL, d_sae=D_SAE, k=6, rescale_acts_by_decoder_norm=True,
                                       metadata=meta),
        "jumprelu": JumpReLUSAEConfig(d_in=D_MODEL, d_sae=D_SAE, metadata=meta),
        "expected_average": StandardSAEConfig(d_in=D_MODEL, d_sae=D_SAE, metadata=meta,
                                              normalize_activations="expected_average_only_in"),
    }[kind]
    sae = SAE.from_dict(cfg.to_dict())
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(D_MODEL, D_SAE, generator=gen) / D_MODEL**0.5)
        sae.W_dec.copy_(torch.randn(D_SAE, D_MODEL, generator=gen) / D_MODEL**0.5)
        sae.W_dec.mul_(torch.rand(D_SAE, 1, generator=gen) * 1.3 + 0.2)  # row norms 0.2–1.5, never 1
        sae.b_enc.normal_(0, 0.3, generator=gen)
        sae.b_dec.normal_(0, 0.5, generator=gen)
        if kind == "jumprelu":
            sae.threshold.uniform_(0.05, 0.3, generator=gen)
    return sae


def _inverting(kind: str):
    """An SAE whose encoder exactly inverts its decoder: ``encode(decode(f) + e) = f`` for ``e ⟂ rows``."""
    sae = _sae(kind)
    with torch.no_grad():
        W = sae.W_dec.detach().double()
        # W_enc = pinv(W_dec · diag(1/scale)) / scale with scale = ‖W_dec[i]‖ for the rescaled TopK SAE
        scale = W.norm(dim=1) if kind == "topk_rescaled" else torch.ones(D_SAE, dtype=torch.float64)
        enc = torch.linalg.pinv(W / scale[:, None]) / scale[None, :]
        sae.W_enc.copy_(enc.float())
        bias = sae.b_dec.detach().double() @ enc  # remove what b_dec adds to the pre-activations
        keep = 0.0 if sae.cfg.apply_b_dec_to_input else 1.0
        sae.b_enc.copy_((-keep * bias).float())
    return sae


def _d(sae, feature: int) -> torch.Tensor:
    """decode(e_i) − decode(0), straight from sae-lens."""
    codes = torch.zeros(2, D_SAE)
    codes[0, feature] = 1.0
    with torch.no_grad():
        out = sae.decode(codes)
    return out[0] - out[1]


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    from tl_reasoning import load_model

    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_model(str(tiny_model_dir), backend="hooked")


@pytest.fixture(scope="module")
def tokens(model):
    return backend_for(model).tokenize(["wait, let me check 12 + 5", "the cat sat on"]).input_ids


def _residuals(model, tokens) -> torch.Tensor:
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=SITE)
    return cache[SITE].detach()


def test_the_rescaled_topk_sae_has_d_i_different_from_its_decoder_rows():
    sae = _sae("topk_rescaled")
    for f in FEATURES:
        norm = float(sae.W_dec[f].detach().norm())
        assert abs(norm - 1.0) > 0.05
        torch.testing.assert_close(_d(sae, f), (sae.W_dec[f] / norm).detach(), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_sae_weights_carry_d_i(kind):
    sae = _sae(kind)
    weights = SAEWeights.from_sae(sae, FEATURES)
    expected = torch.stack([_d(sae, f) for f in FEATURES])
    torch.testing.assert_close(weights.directions, expected, atol=1e-6, rtol=1e-5)
    assert weights.directions.untyped_storage().nbytes() == len(FEATURES) * D_MODEL * 4  # a copy, not a view
    torch.testing.assert_close(weights.W_dec, sae.W_dec[FEATURES].detach())  # raw rows kept as they are


@pytest.mark.parametrize("kind", KINDS)
def test_add_equals_a_hand_written_hook_along_decode_differences(model, tokens, kind):
    """Eq. 7 through ``steer``: x + γ·f_max·(decode(e_i) − decode(0)), logits and later activations."""
    sae = _sae(kind)
    push = sum(GAMMA * fm * _d(sae, f) for f, fm in zip(FEATURES, F_MAX, strict=True))

    def by_hand(act, hook):
        return act + push

    with torch.no_grad():
        clean = model(tokens)
        with model.hooks(fwd_hooks=[(SITE, by_hand)]):
            expected_logits, expected_cache = model.run_with_cache(tokens, names_filter=LATER)
        with steer(model, sae, FEATURES, strength=GAMMA, f_max=F_MAX, mode="add"):
            logits, cache = model.run_with_cache(tokens, names_filter=LATER)
    torch.testing.assert_close(cache[LATER], expected_cache[LATER], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits, expected_logits, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(logits, clean, atol=1e-3)


def test_add_along_raw_decoder_rows_would_be_wrong_for_the_rescaled_topk_sae(model, tokens):
    """The old push γ·f_max·W_dec[i] differs measurably from Eq. 7 for this SAE (the test above catches it)."""
    sae = _sae("topk_rescaled")
    old = sum(GAMMA * fm * sae.W_dec[f].detach() for f, fm in zip(FEATURES, F_MAX, strict=True))
    with torch.no_grad():
        with model.hooks(fwd_hooks=[(SITE, lambda act, hook: act + old)]):
            old_logits = model(tokens)
        with steer(model, sae, FEATURES, strength=GAMMA, f_max=F_MAX, mode="add"):
            logits = model(tokens)
    assert not torch.allclose(logits, old_logits, atol=1e-3)


def _official_clamp(sae, x, targets):
    """The official formula: encode, set latents, decode, add the error x − decode(encode(x))."""
    with torch.no_grad():
        f = sae.encode(x)
        f_new = f.clone()
        for feat, target in zip(FEATURES, targets, strict=True):
            f_new[..., feat] = target
        return sae.decode(f_new) + (x - sae.decode(f))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["clamp", "ablate"])
def test_clamp_and_ablate_equal_the_official_formula_on_model_residuals(model, tokens, kind, mode):
    sae = _sae(kind)
    x = _residuals(model, tokens)
    positions = torch.arange(x.shape[1])
    steering = feature_steering(sae, FEATURES, strength=GAMMA, f_max=F_MAX, mode=mode)
    targets = [GAMMA * fm for fm in F_MAX] if mode == "clamp" else [0.0, 0.0]
    torch.testing.assert_close(steering.edit(x, positions), _official_clamp(sae, x, targets), atol=1e-4, rtol=1e-4)


def _inside_the_sae(sae, n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Residuals ``x = decode(f) + e`` with ``encode(x) = f`` exactly, both features active; returns (x, f)."""
    gen = torch.Generator().manual_seed(3)
    f = torch.zeros(1, n, D_SAE)
    others = [j for j in range(D_SAE) if j not in FEATURES]
    for t in range(n):
        chosen = [FEATURES[0], FEATURES[1], *[others[int(i)] for i in torch.randperm(len(others), generator=gen)[:3]]]
        f[0, t, chosen] = torch.rand(len(chosen), generator=gen) * 2 + 0.5
    W = sae.W_dec.detach()
    q = torch.linalg.qr(W.T.double()).Q.float()  # orthonormal basis of the decoder rows' span
    e = torch.randn(1, n, D_MODEL, generator=gen)
    e = e - (e @ q) @ q.T  # an error term the encoder does not see
    with torch.no_grad():
        x = sae.decode(f) + e
        assert torch.allclose(sae.encode(x), f, atol=1e-4)
    return x, f


@pytest.mark.parametrize("kind", KINDS)
def test_clamp_sets_the_sae_own_latent_and_keeps_the_error(kind):
    sae = _inverting(kind)
    x, f = _inside_the_sae(sae)
    positions = torch.arange(x.shape[1])
    out = feature_steering(sae, FEATURES, strength=GAMMA, f_max=F_MAX, mode="clamp").edit(x, positions)
    with torch.no_grad():
        f_out = sae.encode(out)
        error_before = x - sae.decode(sae.encode(x))
        error_after = out - sae.decode(f_out)
    for feat, fm in zip(FEATURES, F_MAX, strict=True):
        torch.testing.assert_close(f_out[..., feat], torch.full_like(f_out[..., feat], GAMMA * fm),
                                   atol=1e-4, rtol=1e-4)
    others = [j for j in range(D_SAE) if j not in FEATURES]
    torch.testing.assert_close(f_out[..., others], f[..., others], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(error_after, error_before, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_ablate_zeroes_the_sae_own_latent_and_keeps_the_error(kind):
    sae = _inverting(kind)
    x, f = _inside_the_sae(sae)
    out = feature_steering(sae, FEATURES, mode="ablate").edit(x, torch.arange(x.shape[1]))
    with torch.no_grad():
        f_out = sae.encode(out)
        torch.testing.assert_close(out - sae.decode(f_out), x - sae.decode(f), atol=1e-4, rtol=1e-4)
    assert float(f_out[..., FEATURES].abs().max()) < 1e-4
    assert float(f[..., FEATURES].min()) > 0.4  # they were on before


@pytest.mark.parametrize("kind", KINDS)
def test_cap_and_direction_ablation_use_the_unit_d_i(kind):
    sae = _sae(kind)
    x = 2 * torch.randn(2, 5, D_MODEL)
    positions = torch.arange(5)
    d = _d(sae, FEATURES[0])
    d = d / d.norm()
    target = GAMMA * F_MAX[0]
    capped = feature_steering(sae, FEATURES[:1], strength=GAMMA, f_max=F_MAX[0], mode="cap").edit(x, positions)
    torch.testing.assert_close(capped, x - (x @ d)[..., None] * d + target * d, atol=1e-5, rtol=1e-5)
    ablated = feature_steering(sae, FEATURES[:1], mode="ablate", how="direction").edit(x, positions)
    torch.testing.assert_close(ablated, x - (x @ d)[..., None] * d, atol=1e-5, rtol=1e-5)
