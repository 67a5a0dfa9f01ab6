"""Scoring and steering through a loopback server speaking nnsight 0.8's remote protocol.

The server (``tests/remote_server``) runs in its own process on 127.0.0.1 with its own copy of the
organism and executes requests with nnsight's deserialisation, so these tests exercise the real
client: websocket ``/subscribe``, multipart ``POST /request``, status frames, inline and URL
results — and the error paths (server error, dropped connection, timeout, bad key, model not
hosted, version mismatch, unreachable host), checking that the API key never shows.
"""

from __future__ import annotations

import logging
import socket

import pytest

import tl_reasoning
from tests.remote_server.fixture import loopback_server
from tests.test_remote_local import CONFIG, PROMPTS, assert_stats_close
from tl_reasoning.remote import (
    ModelNotHostedError,
    RemoteAuthError,
    RemoteConnectionError,
    RemoteServerError,
    RemoteTarget,
    RemoteTimeoutError,
    RemoteVersionError,
)
from tl_reasoning.remote.plan import DEFAULT_UPLOAD_CAP
from tl_reasoning.scoring.collect import collect_stats
from tl_reasoning.steering import feature_steering, generate

KEY = "tlr-test-key-0123456789abcdef"
MODEL_KEY = "tl_reasoning:organism"


@pytest.fixture(scope="module")
def server():
    with loopback_server(api_key=KEY) as running:
        yield running


@pytest.fixture(autouse=True)
def _normal(server):
    server.control(behaviour="normal", result="inline", min_nnsight_version=None)
    yield
    server.control(behaviour="normal", result="inline", min_nnsight_version=None)


@pytest.fixture(scope="module")
def organism():
    return tl_reasoning.load_model("organism", backend="nnsight"), tl_reasoning.load_sae("organism")


def target(server, key: str = KEY, model_key: str = MODEL_KEY, timeout: float = 60.0) -> RemoteTarget:
    return RemoteTarget(server.url, key, model_key, timeout)


@pytest.mark.parametrize("mode,result", [("residuals", "inline"), ("server", "url")])
def test_scoring_through_loopback_equals_local(server, organism, mode, result):
    model, sae = organism
    server.control(result=result)
    want = collect_stats(model, sae, "organism:reasoning", config=CONFIG)
    got = collect_stats(model, sae, "organism:reasoning", config=CONFIG, remote=target(server), remote_mode=mode,
                        remote_batches=2)
    assert got.meta["run_remote"]["target"] == server.url
    assert_stats_close(got, want, 1e-5)


def test_steering_through_loopback_equals_local(server, organism):
    model, sae = organism
    steering = feature_steering(sae, [3, 7], strength=6.0, f_max=5.0)
    local = generate(model, PROMPTS, 8, steering)
    remote = generate(model, PROMPTS, 8, steering, remote=target(server))
    assert [g.tokens for g in remote] == [g.tokens for g in local]


def _run(model, sae, tg):
    return collect_stats(model, sae, "organism:reasoning", config=CONFIG, remote=tg, remote_mode="server",
                         remote_batches=4)


def test_server_error_is_reported(server, organism):
    server.control(behaviour="error")
    with pytest.raises(RemoteServerError, match="injected server failure"):
        _run(*organism, target(server))


def test_dropped_connection(server, organism):
    server.control(behaviour="drop")
    with pytest.raises(RemoteConnectionError, match="connection"):
        _run(*organism, target(server))


def test_timeout(server, organism):
    server.control(behaviour="hang")
    with pytest.raises(RemoteTimeoutError, match="in time"):
        _run(*organism, target(server, timeout=1.5))


def test_model_not_hosted(server, organism):
    with pytest.raises(ModelNotHostedError, match="does not host"):
        _run(*organism, target(server, model_key="meta-llama/Llama-3.1-8B"))


def test_version_mismatch(server, organism):
    server.control(min_nnsight_version="99.0")
    with pytest.raises(RemoteVersionError, match="versions do not match"):
        _run(*organism, target(server))


def test_unreachable_host(organism):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens there
    with pytest.raises(RemoteConnectionError, match="cannot reach"):
        _run(*organism, RemoteTarget(f"http://127.0.0.1:{port}", "k", MODEL_KEY, 5.0))


def test_bad_key_is_refused_and_never_shown(server, organism, capsys, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    wrong = "tlr-wrong-key-fedcba9876543210"
    with pytest.raises(RemoteAuthError) as info:
        _run(*organism, target(server, key=wrong))
    assert wrong not in str(info.value) and wrong not in repr(info.value)
    # a successful run with checkpoints: the key appears in no output, log or file
    model, sae = organism
    path = tmp_path / "stats.safetensors"
    collect_stats(model, sae, "organism:reasoning", config=CONFIG, remote=target(server), remote_batches=2,
                  checkpoint=path, checkpoint_every=1)
    out = capsys.readouterr()
    for secret in (KEY, wrong):
        assert secret not in out.out and secret not in out.err and secret not in caplog.text
        assert secret.encode() not in path.read_bytes()
    assert DEFAULT_UPLOAD_CAP > 0


def test_cli_score_and_steer_through_loopback(server, tmp_path, capsys, monkeypatch):
    from nnsight import CONFIG as NNSIGHT_CONFIG

    from tl_reasoning.cli import main
    from tl_reasoning.stats import FeatureStats

    monkeypatch.setattr(NNSIGHT_CONFIG.APP, "REMOTE_LOGGING", True)  # status lines on: they must go to stderr
    monkeypatch.setenv("NDIF_API_KEY", KEY)
    common = ["--model", "organism", "--sae", "organism", "--data", "organism:reasoning", "--max-docs", "8",
              "--batch-size", "4", "--context-size", "96", "--no-progress"]
    assert main(["score", *common, "--out", str(tmp_path / "local")]) == 0
    assert main(["score", *common, "--out", str(tmp_path / "remote"), "--remote", server.url,
                 "--remote-model-key", MODEL_KEY, "--remote-mode", "server", "--remote-batches", "1"]) == 0
    local = FeatureStats.load(tmp_path / "local" / "stats.safetensors")
    remote = FeatureStats.load(tmp_path / "remote" / "stats.safetensors")
    assert_stats_close(remote, local, 1e-5)
    steer = ["steer", "--model", "organism", "--sae", "organism", "--feature", "3", "--strength", "4",
             "--prompt", "The answer is", "--max-new-tokens", "6", "--json"]
    capsys.readouterr()
    assert main(steer) == 0
    want = capsys.readouterr().out
    assert main([*steer, "--remote", server.url, "--remote-model-key", MODEL_KEY, "--remote-timeout", "60"]) == 0
    captured = capsys.readouterr()
    got = captured.out
    import json

    assert "COMPLETED" in captured.err.upper(), "nnsight's status lines go to stderr"
    got, want = json.loads(got), json.loads(want)  # stdout is exactly one JSON object
    # f_max is estimated from activations computed on either side: equal up to float32 rounding
    got_fmax = [f.pop("f_max") for f in got["features"]]
    want_fmax = [f.pop("f_max") for f in want["features"]]
    assert got_fmax == pytest.approx(want_fmax, rel=1e-5)
    # the push is measured locally only (the meter keeps Python state, which cannot run inside a remote job)
    assert want.pop("push")["rho"] > 0 and got.pop("push") is None
    assert got == want
    for path in (tmp_path / "remote").iterdir():
        assert KEY.encode() not in path.read_bytes()
    assert KEY not in got


def test_meta_device_client_model(server, organism):
    """The NDIF set-up: the client model has config and tokenizer only (meta device), no weights."""
    from pathlib import Path

    from nnsight import TransformersModel
    from transformers import AutoTokenizer

    real, sae = organism
    path = Path(tl_reasoning.__file__).parent / "organism" / "artifacts" / "organism"
    meta = TransformersModel(str(path), tokenizer=AutoTokenizer.from_pretrained(str(path)), task="text-generation")
    got = collect_stats(meta, sae, "organism:reasoning", config=CONFIG, remote=target(server), remote_mode="server")
    assert_stats_close(got, collect_stats(real, sae, "organism:reasoning", config=CONFIG), 1e-5)
    steering = feature_steering(sae, [3], strength=4.0, f_max=5.0)
    assert ([g.tokens for g in generate(meta, PROMPTS, 6, steering, remote=target(server))]
            == [g.tokens for g in generate(real, PROMPTS, 6, steering)])
    assert next(meta._module.parameters()).device.type == "meta"


def test_cli_remote_timeout_defaults_to_a_finite_value():
    from tl_reasoning.cli import build_parser
    from tl_reasoning.remote.cli import remote_from_args
    from tl_reasoning.remote.target import DEFAULT_REMOTE_TIMEOUT

    base = ["steer", "--model", "m", "--sae", "s", "--feature", "1", "--prompt", "p", "--remote", "http://127.0.0.1:9"]
    assert remote_from_args(build_parser().parse_args(base)).timeout == DEFAULT_REMOTE_TIMEOUT
    assert remote_from_args(build_parser().parse_args([*base, "--remote-timeout", "7200"])).timeout == 7200
    assert remote_from_args(build_parser().parse_args(["score", *base[1:5], "--data", "d", "--out", "o",
                                                         "--remote", "http://127.0.0.1:9"])).timeout > 0


def test_hanging_server_fails_with_the_default_deadline(server, organism, monkeypatch):
    """No timeout given: the default deadline (shortened here) ends the wait instead of hanging forever."""
    from tl_reasoning.remote import resolve_remote
    from tl_reasoning.remote import target as target_module

    monkeypatch.setattr(target_module, "DEFAULT_REMOTE_TIMEOUT", 1.5)
    server.control(behaviour="hang")
    with pytest.raises(RemoteTimeoutError, match="in time"):
        _run(*organism, resolve_remote(server.url, api_key=KEY, model_key=MODEL_KEY))
