"""The maths of each method on plain tensors: norms, angles, gates, latents, identities, errors."""

from __future__ import annotations

import math

import pytest
import torch
from tl_reasoning_steering_methods.gating import conditional
from tl_reasoning_steering_methods.rotation import angular, feature_direction
from tl_reasoning_steering_methods.scaling import scale

D = 16


def make_weights(features=(0,), d: int = D, threshold: bool = False, seed: int = 0):
    """ReLU (or JumpReLU) SAE weights for ``features`` with random encoder columns and decoder rows."""
    from tl_reasoning import SAEWeights

    gen = torch.Generator().manual_seed(seed)
    k = len(features)
    return SAEWeights(
        features=tuple(features),
        W_enc=torch.randn(d, k, generator=gen),
        b_enc=torch.randn(k, generator=gen) * 0.1,
        W_dec=torch.randn(k, d, generator=gen),
        b_dec=torch.zeros(d),
        threshold=torch.full((k,), 0.5) if threshold else None,
    )


@pytest.fixture
def acts():
    return torch.randn(3, 7, D)


def _angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Degrees between the last-dim vectors of ``a`` and ``b`` (computed in float64)."""
    a, b = a.double(), b.double()
    cos = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))
    return torch.rad2deg(torch.arccos(cos.clamp(-1, 1)))


def _pos(act):
    return torch.arange(act.shape[1])


# -------------------------------------------------------------------------------------------- angular
def test_angular_by_turns_toward_the_feature_and_keeps_the_norm(acts):
    w = make_weights((3,))
    b1 = (w.W_dec[0] / w.W_dec[0].norm())
    before = _angle(acts, b1)
    out = angular(w, [3], 20.0, None)(acts, _pos(acts))
    assert torch.allclose(out.norm(dim=-1), acts.norm(dim=-1), rtol=1e-5)
    assert torch.allclose(_angle(out, b1), before - 20.0, atol=1e-3)
    # the rotation stays in the plane of h and b1: x′ is a combination of x and b1
    coeffs = torch.linalg.lstsq(torch.stack([acts, b1.expand_as(acts)], dim=-1), out[..., None]).solution
    rebuilt = (torch.stack([acts, b1.expand_as(acts)], dim=-1) @ coeffs)[..., 0]
    assert torch.allclose(rebuilt, out, atol=1e-4)
    # negative angles turn away; a full turn comes back
    assert torch.allclose(_angle(angular(w, [3], -15.0, None)(acts, _pos(acts)), b1), before + 15.0, atol=1e-3)
    assert torch.allclose(angular(w, [3], 360.0, None)(acts, _pos(acts)), acts, atol=1e-4)


def test_angular_target_sets_the_angle(acts):
    w = make_weights((1, 2))
    b1 = feature_direction(w.W_dec).float()
    for target in (0.0, 30.0, 90.0, 150.0):
        out = angular(w, [1, 2], target, 1.0, rotation="target")(acts, _pos(acts))
        assert torch.allclose(_angle(out, b1), torch.full(acts.shape[:2], target, dtype=torch.float64), atol=1e-2)
        assert torch.allclose(out.norm(dim=-1), acts.norm(dim=-1), rtol=1e-5)


def test_angular_fixed_plane_rotates_only_the_in_plane_component(acts):
    w = make_weights((0,))
    b1 = feature_direction(w.W_dec).float()
    v = torch.randn(D)
    b2 = v - (v @ b1) * b1
    b2 = b2 / b2.norm()

    def split(x):
        c1, c2 = x @ b1, x @ b2
        return c1, c2, x - c1[..., None] * b1 - c2[..., None] * b2

    c1, c2, rest = split(acts)
    for rotation, theta, want in (("by", 40.0, torch.atan2(c2, c1) - math.radians(40.0)),
                                  ("target", 120.0, torch.full_like(c1, math.radians(120.0)))):
        out = angular(w, [0], theta, None, rotation=rotation, plane=v)(acts, _pos(acts))
        n1, n2, rest_out = split(out)
        assert torch.allclose(rest_out, rest, atol=1e-5)  # out-of-plane part untouched
        assert torch.allclose(torch.hypot(n1, n2), torch.hypot(c1, c2), rtol=1e-5)  # in-plane norm kept
        got = torch.atan2(n2, n1)
        assert torch.allclose(torch.remainder(got - want + math.pi, 2 * math.pi) - math.pi,
                              torch.zeros_like(got), atol=1e-4)
        assert torch.allclose(out.norm(dim=-1), acts.norm(dim=-1), rtol=1e-5)


def test_angular_zero_is_identity_and_rows_take_their_own_angle(acts):
    w = make_weights((5,))
    assert torch.equal(angular(w, [5], 0.0, 1.0)(acts, _pos(acts)), acts)
    b1 = w.W_dec[0] / w.W_dec[0].norm()
    out = angular(w, [5], torch.tensor([[0.0], [10.0], [25.0]]), None)(acts, _pos(acts))
    assert torch.equal(out[0], acts[0])
    assert torch.allclose(_angle(out[1:], b1), _angle(acts[1:], b1) - torch.tensor([[10.0], [25.0]]), atol=1e-3)


def test_angular_leaves_tokens_without_a_plane_alone():
    w = make_weights((0,))
    b1 = w.W_dec[0] / w.W_dec[0].norm()
    act = torch.stack([3.0 * b1, -2.0 * b1, torch.zeros(D)])[None]
    assert torch.equal(angular(w, [0], 45.0, None)(act, _pos(act)), act)


def test_angular_errors():
    w = make_weights((0, 1))
    with pytest.raises(ValueError, match="one angle, not one per feature"):
        angular(w, [0, 1], [10.0, 20.0], None)
    with pytest.raises(ValueError, match="use 'by'"):
        angular(w, [0, 1], 10.0, None, rotation="spin")
    with pytest.raises(ValueError, match="parallel to the feature direction"):
        angular(w, [0, 1], 10.0, None, plane=feature_direction(w.W_dec) * 3)
    with pytest.raises(ValueError, match="do not match"):
        angular(w, [0, 2], 10.0, None)


# ---------------------------------------------------------------------------------------- conditional
def test_conditional_direction_gate_is_respected(acts):
    w = make_weights((0,))
    c = torch.randn(D)
    cos = (acts @ c) / (acts.norm(dim=-1) * c.norm())
    middle = cos.flatten().sort().values[cos.numel() // 2 - 1:cos.numel() // 2 + 1]
    threshold = float(middle.mean())  # halfway between two scores: no token sits on the threshold
    vec = 2.0 * 3.0 * w.W_dec[0]
    out = conditional(w, [0], 2.0, 3.0, condition=c, threshold=threshold)(acts, _pos(acts))
    gate = cos > threshold
    assert 0 < int(gate.sum()) < gate.numel()
    assert torch.equal(out[~gate], acts[~gate])  # untouched, bit for bit
    assert torch.allclose(out[gate], acts[gate] + vec, atol=1e-6)
    below = conditional(w, [0], 2.0, 3.0, condition=c, threshold=threshold, compare="below")(acts, _pos(acts))
    assert torch.equal(below[gate], acts[gate]) and not torch.equal(below[~gate], acts[~gate])


def test_conditional_default_gate_is_the_steered_latent(acts):
    w = make_weights((0, 1), threshold=True)
    pre = acts @ w.W_enc + w.b_enc
    fires = ((pre > w.threshold) & (pre > 0)).any(dim=-1)  # JumpReLU: any steered latent active
    out = conditional(w, [0, 1], [1.0, 2.0], 4.0)(acts, _pos(acts))
    assert 0 < int(fires.sum()) < fires.numel()
    assert torch.equal(out[~fires], acts[~fires])
    assert torch.allclose(out[fires], acts[fires] + 4.0 * (1.0 * w.W_dec[0] + 2.0 * w.W_dec[1]), atol=1e-5)
    # a threshold above every activation closes the gate everywhere
    assert torch.equal(conditional(w, [0, 1], 1.0, 4.0, threshold=1e9)(acts, _pos(acts)), acts)


def test_conditional_gate_on_other_latents(acts):
    from tl_reasoning.interventions import LatentReader

    w = make_weights((0,))
    other = make_weights((7,), seed=3)
    reader = LatentReader.from_weights(other)
    fires = reader.function()(acts)[..., 0] > 0.2
    out = conditional(w, [0], 1.0, 1.0, condition=reader, threshold=0.2)(acts, _pos(acts))
    same = conditional(w, [0], 1.0, 1.0, condition=other, threshold=0.2)(acts, _pos(acts))
    assert torch.equal(out, same)
    assert torch.equal(out[~fires], acts[~fires]) and torch.allclose(out[fires], acts[fires] + w.W_dec[0])


def test_conditional_sequence_scope_latches_across_cached_steps():
    w = make_weights((0,))
    c = torch.zeros(D)
    c[0] = 1.0
    act = torch.randn(2, 6, D)
    act[..., 0] = -5.0  # condition false everywhere ...
    act[0, 2, 0] = 5.0  # ... except row 0, token 2
    edit = conditional(w, [0], 1.0, 1.0, condition=c, threshold=0.5, scope="sequence")
    out = edit(act, torch.arange(6))
    assert torch.equal(out[0, :2], act[0, :2]) and torch.equal(out[1], act[1])
    assert torch.allclose(out[0, 2:], act[0, 2:] + w.W_dec[0])  # latched from token 2 on
    step = torch.randn(2, 1, D)
    step[..., 0] = -5.0
    out_step = edit(step, torch.tensor([6]))  # a cached decoding step continues the sequence
    assert torch.allclose(out_step[0], step[0] + w.W_dec[0]) and torch.equal(out_step[1], step[1])
    fresh = edit(act[:, :2], torch.arange(2))  # position 0 again: a new sequence, latch reset
    assert torch.equal(fresh, act[:, :2])
    # the per-token scope does not latch
    token = conditional(w, [0], 1.0, 1.0, condition=c, threshold=0.5)(act, torch.arange(6))
    assert torch.equal(token[0, 3:], act[0, 3:])


def test_conditional_zero_strength_per_row_and_errors(acts):
    w = make_weights((0,))
    c = torch.randn(D)
    assert torch.equal(conditional(w, [0], 0.0, 5.0, condition=c, threshold=-2.0)(acts, _pos(acts)), acts)
    rows = conditional(w, [0], torch.tensor([[0.0], [1.0], [2.0]]), 1.0, condition=c, threshold=-2.0)
    out = rows(acts, _pos(acts))
    assert torch.equal(out[0], acts[0]) and torch.allclose(out[2] - acts[2], 2.0 * w.W_dec[0].expand(7, D))
    with pytest.raises(ValueError, match="d_model=16"):
        conditional(w, [0], 1.0, 1.0, condition=torch.ones(3))
    with pytest.raises(ValueError, match="use 'token'"):
        conditional(w, [0], 1.0, 1.0, scope="prompt")
    with pytest.raises(ValueError, match="needs f_max"):
        conditional(w, [0], 1.0, None)
    with pytest.raises(TypeError, match="condition must be"):
        conditional(w, [0], 1.0, 1.0, condition="maths")


# -------------------------------------------------------------------------------------------- scale
def test_scale_latent_multiplies_the_latent_and_keeps_the_error(acts):
    from tl_reasoning.interventions import LatentReader

    w = make_weights((0, 1))
    reader = LatentReader.from_weights(w)
    f = reader.function()(acts)
    out = scale(w, [0, 1], [1.5, -1.0], None)(acts, _pos(acts))
    assert torch.allclose(out - acts, (f * torch.tensor([1.5, -1.0])) @ w.W_dec, atol=1e-5)
    silent = (f == 0).all(dim=-1)
    assert bool(silent.any()) and torch.equal(out[silent], acts[silent])  # no latent, no change
    assert torch.equal(scale(w, [0, 1], 0.0)(acts, _pos(acts)), acts)


def test_scale_projection_scales_the_component(acts):
    w = make_weights((4,))
    d = w.W_dec[0] / w.W_dec[0].norm()
    out = scale(w, [4], 2.0, how="projection")(acts, _pos(acts))
    assert torch.allclose(out @ d, 3.0 * (acts @ d), atol=1e-5)
    assert torch.allclose(out - (out @ d)[..., None] * d, acts - (acts @ d)[..., None] * d, atol=1e-5)
    ablated = scale(w, [4], -1.0, how="projection")(acts, _pos(acts))
    assert torch.allclose(ablated @ d, torch.zeros(acts.shape[:2]), atol=1e-5)
    with pytest.raises(ValueError, match="use 'latent'"):
        scale(w, [4], 1.0, how="sideways")
