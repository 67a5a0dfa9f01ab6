"""Remote execution through nnsight's ``remote="local"`` simulation: equal to local, plus the plumbing."""

from __future__ import annotations

import pytest
import torch

import tl_reasoning
from tl_reasoning.remote import (
    MissingAPIKeyError,
    RemoteTarget,
    choose_mode,
    redact,
    resolve_remote,
)
from tl_reasoning.remote.encoder import EncoderWeights, encode_dense
from tl_reasoning.scoring.collect import collect_stats
from tl_reasoning.scoring.config import StatsConfig
from tl_reasoning.steering import feature_steering, generate

FIELDS = ("sum_window", "sum_other", "sum_word", "sumsq_window", "sumsq_other", "sum_matched", "max_activation")
COUNTS = ("count_window", "count_other", "count_word", "count_matched", "hist")
CONFIG = StatsConfig(max_docs=12, batch_size=4, context_size=96)
PROMPTS = ["The answer is", "Let me think about this"]


@pytest.fixture(scope="module")
def organism():
    return tl_reasoning.load_model("organism", backend="nnsight"), tl_reasoning.load_sae("organism")


@pytest.fixture(scope="module")
def local_stats(organism):
    model, sae = organism
    return collect_stats(model, sae, "organism:reasoning", config=CONFIG)


def assert_stats_close(got, want, rel: float) -> None:
    for name in FIELDS:
        a, b = getattr(got, name), getattr(want, name)
        err = float((a - b).abs().max() / b.abs().max().clamp(min=1e-12))
        assert err <= rel, f"{name}: relative error {err:.2e} > {rel:.0e}"
    if rel <= 1e-5:
        for name in COUNTS:
            assert torch.equal(getattr(got, name), getattr(want, name)), name
    else:
        for name in COUNTS[:4]:
            assert torch.equal(getattr(got, name), getattr(want, name)), name


@pytest.mark.parametrize("mode", ["residuals", "server"])
@pytest.mark.parametrize("dtype,rel", [(None, 1e-5), ("bfloat16", 3e-2)])
def test_scoring_local_simulation_equals_local(organism, local_stats, mode, dtype, rel):
    model, sae = organism
    stats = collect_stats(model, sae, "organism:reasoning", config=CONFIG, remote="local", remote_mode=mode,
                          remote_dtype=dtype, remote_batches=2)
    assert stats.meta["run_remote"]["mode"] == mode
    assert stats.docs_seen == local_stats.docs_seen == 12
    assert_stats_close(stats, local_stats, rel)


def test_remote_scoring_resumes_from_checkpoint(organism, local_stats, tmp_path):
    model, sae = organism
    path = tmp_path / "stats.safetensors"
    first = StatsConfig(**{**CONFIG.__dict__, "max_docs": 8})
    part = collect_stats(model, sae, "organism:reasoning", config=first, remote="local", remote_mode="server",
                         remote_batches=1, checkpoint=path, checkpoint_every=1)
    assert part.docs_seen == 8
    full = collect_stats(model, sae, "organism:reasoning", config=CONFIG, remote="local", remote_mode="server",
                         remote_batches=1, checkpoint=path, checkpoint_every=1)
    assert full.docs_seen == 12
    assert_stats_close(full, local_stats, 1e-5)


def test_remote_scoring_respects_max_tokens(organism):
    model, sae = organism
    config = StatsConfig(max_tokens=300, batch_size=4, context_size=96)
    want = collect_stats(model, sae, "organism:reasoning", config=config)
    got = collect_stats(model, sae, "organism:reasoning", config=config, remote="local", remote_batches=3)
    assert got.tokens_seen == want.tokens_seen == 300
    assert_stats_close(got, want, 1e-5)


def test_score_features_accepts_remote(organism):
    model, sae = organism
    kwargs = dict(max_docs=8, batch_size=4, context_size=96)
    local = tl_reasoning.score_features(model, sae, "organism:reasoning", **kwargs)
    remote = tl_reasoning.score_features(model, sae, "organism:reasoning", remote="local", remote_mode="server",
                                         **kwargs)
    assert list(local.table.index[:10]) == list(remote.table.index[:10])


@pytest.mark.parametrize("positions", ["all", "generated", "thinking", "5:9"])
def test_steered_generation_local_simulation_matches_local(organism, positions):
    model, sae = organism
    steering = feature_steering(sae, [3, 7], strength=6.0, f_max=5.0, positions=positions)
    local = generate(model, PROMPTS, 8, steering)
    remote = generate(model, PROMPTS, 8, steering, remote="local")
    assert [g.tokens for g in remote] == [g.tokens for g in local]
    plain = generate(model, PROMPTS, 8, remote="local")
    assert [g.tokens for g in plain] == [g.tokens for g in generate(model, PROMPTS, 8)]
    assert [g.tokens for g in plain] != [g.tokens for g in local]


def test_encoder_weights_reproduce_sae_encode(organism):
    _, sae = organism
    enc = EncoderWeights.from_sae(sae)
    x = torch.randn(40, int(sae.cfg.d_in))
    assert torch.allclose(encode_dense(enc, x), sae.encode(x).float(), atol=1e-6)
    assert all(t.is_contiguous() and t._base is None for t in (enc.W_enc, enc.b_enc, enc.b_dec))
    assert enc.W_enc.untyped_storage().data_ptr() != sae.W_enc.untyped_storage().data_ptr()


def test_choose_mode_by_bytes():
    # ndif.md §7: Llama-3.1-8B, F = 65,536: break-even near N = F tokens per request
    assert choose_mode(8 * 1024, 4096, 65_536, 2).mode == "residuals"
    assert choose_mode(1_000_000, 4096, 65_536, 2, upload_cap=2**30).mode == "server"
    assert choose_mode(1_000_000, 4096, 65_536, 4, upload_cap=256 * 2**20).mode == "residuals"  # 1 GiB > cap
    assert choose_mode(10, 4096, 65_536, mode="server").mode == "server"
    with pytest.raises(ValueError, match="remote_mode"):
        choose_mode(10, 8, 8, mode="gpu")


def test_resolve_remote_and_missing_key(monkeypatch):
    from nnsight import CONFIG

    monkeypatch.delenv("NDIF_API_KEY", raising=False)
    monkeypatch.setattr(CONFIG.API, "APIKEY", None)
    assert resolve_remote(None) is None and resolve_remote(False) is None
    assert resolve_remote("local").is_local
    with pytest.raises(MissingAPIKeyError, match="login.ndif.us"):
        resolve_remote(True)
    monkeypatch.setenv("NDIF_API_KEY", "sk-secret-123")
    target = resolve_remote(True, model_key="k")
    assert target.api_key == "sk-secret-123" and "sk-secret-123" not in repr(target)
    assert resolve_remote("http://127.0.0.1:1/").host == "http://127.0.0.1:1"
    with pytest.raises(ValueError, match="remote="):
        resolve_remote("ndif.us")
    assert isinstance(resolve_remote(RemoteTarget(None)), RemoteTarget)


def test_redact_hides_the_key():
    text = "headers {'ndif-api-key': 'abc123'} failed for abc123"
    assert "abc123" not in redact(text, "abc123")
    assert "abc123" not in redact("ndif-api-key: abc123", None)


def test_remote_needs_an_nnsight_model():
    from tests.conftest import D_MODEL  # noqa: F401  (the conftest's tiny models are TransformerLens)

    hooked = tl_reasoning.load_model("organism", backend="hooked")
    sae = tl_reasoning.load_sae("organism")
    with pytest.raises(ValueError, match="nnsight"):
        collect_stats(hooked, sae, "organism:reasoning", config=CONFIG, remote="local")
    with pytest.raises(ValueError, match="nnsight"):
        generate(hooked, PROMPTS, 2, remote="local")
