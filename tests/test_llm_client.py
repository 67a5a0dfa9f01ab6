"""The LLM client against a real `transformers serve` (the organism model), directly or via a fault proxy."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.llm_server import closed_port, fault_proxy, llm_server  # noqa: F401 - fixtures
from tl_reasoning.autointerp import llm
from tl_reasoning.autointerp.llm import (
    BudgetExceeded,
    ChatClient,
    EndpointAuthError,
    EndpointConfig,
    EndpointUnreachable,
    LLMError,
    MalformedReply,
    Usage,
)

KEY = "sk-test-DISTINCTIVE-7f3e9a1c"
ASK = [{"role": "user", "content": "Question: 12+7=?"}]


def ask(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Question: {i}+{i}=?"}]


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch):
    """Retries wait 10x less than in production (the schedule itself is tested in test_backoff_schedule)."""
    monkeypatch.setattr(llm, "_BACKOFF_BASE_S", 0.05)


def client_for(url: str, model: str, cache=None, **settings) -> ChatClient:
    settings.setdefault("max_tokens", 8)
    return ChatClient(EndpointConfig(base_url=url, model=model, **settings), cache=cache)


def test_completion_has_text_and_real_token_counts(llm_server):  # noqa: F811
    with client_for(llm_server.base_url, llm_server.model) as client:
        client.check()
        reply = client.complete(ASK)
        assert isinstance(reply.text, str) and not reply.cached
        assert reply.completion_tokens == 8 and reply.finish_reason == "length"
        assert reply.prompt_tokens > 0 and reply.seconds > 0
        second = client.complete(ASK, max_tokens=4)
        assert second.completion_tokens == 4
        usage = client.usage
    assert (usage.requests, usage.retries, usage.failed, usage.cache_hits) == (2, 0, 0, 0)
    assert usage.completion_tokens == 12 and usage.prompt_tokens == 2 * reply.prompt_tokens
    assert usage.seconds >= reply.seconds + second.seconds - 1e-6 and usage.missing_usage == 0
    assert usage.cost_usd is None and "cost unknown (pass --price-in/--price-out)" in usage.summary()


def test_repeated_calls_are_cached_across_clients(fault_proxy, tmp_path):  # noqa: F811
    cache = tmp_path / "sub" / "llm_cache.jsonl"
    with client_for(fault_proxy.base_url, fault_proxy.model, cache) as client:
        first = client.complete(ASK)
        again = client.complete(ASK)
        assert fault_proxy.posts() == 1 and again.cached and again.text == first.text
        assert again.completion_tokens == first.completion_tokens and again.seconds == 0.0
        assert (client.usage.requests, client.usage.cache_hits) == (1, 1)
        client.complete(ASK, max_tokens=4)  # different settings: a different reply
        assert fault_proxy.posts() == 2
    with client_for(fault_proxy.base_url, fault_proxy.model, cache) as rerun:
        assert rerun.complete(ASK).cached and rerun.complete(ASK, max_tokens=4).cached
        assert fault_proxy.posts() == 2 and rerun.usage.requests == 0 and rerun.usage.cache_hits == 2
        assert rerun.usage.summary().startswith("LLM: 0 requests, 2 cached")
        key = rerun.cache_key(ASK, 0.0, 8)
    other = client_for(fault_proxy.base_url, "another-model", cache)
    assert other.cache_key(ASK, 0.0, 8) != key and len(cache.read_text().splitlines()) == 2


def test_corrupt_cache_lines_are_skipped(fault_proxy, tmp_path):  # noqa: F811
    cache = tmp_path / "llm_cache.jsonl"
    model = fault_proxy.model
    with client_for(fault_proxy.base_url, model, cache) as client:
        client.complete(ASK)
    with open(cache, "a") as f:
        f.write("this is not json\n[1, 2]\n{\"key\": \"partial")  # a run that died mid-line
    with client_for(fault_proxy.base_url, model, cache) as client:
        assert client.cache_skipped == 3 and client.complete(ASK).cached
        client.complete(ask(1))
    with client_for(fault_proxy.base_url, model, cache) as client:  # the new line was not glued on
        assert client.cache_skipped == 3
        assert client.complete(ASK).cached and client.complete(ask(1)).cached
    assert fault_proxy.posts() == 2


def test_server_down_fails_fast(monkeypatch):
    monkeypatch.setattr(llm, "_BACKOFF_BASE_S", 0.5)  # production settings: 3 retries after 0.5, 1 and 2 s
    with closed_port() as port:
        client = client_for(f"http://127.0.0.1:{port}/v1", "m")
        start = time.monotonic()
        with pytest.raises(EndpointUnreachable, match=r"cannot reach the LLM endpoint at http://127\.0\.0\.1:"
                           r"\d+/v1 \(connection refused\): start the server or pass --base-url"):
            client.check()
        with pytest.raises(EndpointUnreachable, match=r"connection refused, 4 attempts.*--evidence-only"):
            client.complete(ASK)
        assert time.monotonic() - start < 10
        assert (client.usage.requests, client.usage.retries, client.usage.failed) == (4, 3, 1)


def test_unresolvable_host_is_unreachable():
    client = client_for("http://no-such-host.invalid/v1", "m")
    with pytest.raises(EndpointUnreachable, match="host name not resolved"):
        client.check()


def test_wrong_key_is_an_auth_error_without_retry(fault_proxy):  # noqa: F811
    fault_proxy.set("pass", require_key="the-right-key")
    client = client_for(fault_proxy.base_url, fault_proxy.model, api_key=KEY)
    refused = r"refused the API key \(401\): set TL_REASONING_LLM_API_KEY"
    with pytest.raises(EndpointAuthError, match=refused) as e1:
        client.check()
    with pytest.raises(EndpointAuthError) as e2:
        client.complete(ASK)
    assert fault_proxy.posts() == 1 and client.usage.retries == 0 and client.usage.failed == 1
    assert KEY not in str(e1.value) + str(e2.value) + repr(e2.value)
    good = client_for(fault_proxy.base_url, fault_proxy.model, api_key="the-right-key")
    assert good.complete(ASK).completion_tokens == 8


def test_server_errors_are_retried_then_succeed(fault_proxy):  # noqa: F811
    fault_proxy.set("500", first=2)
    client = client_for(fault_proxy.base_url, fault_proxy.model)
    reply = client.complete(ASK)
    assert reply.completion_tokens == 8 and fault_proxy.posts() == 3
    assert (client.usage.requests, client.usage.retries, client.usage.failed) == (3, 2, 0)
    assert "3 requests (2 retries)" in client.usage.summary()


def test_persistent_server_errors_give_up(fault_proxy):  # noqa: F811
    fault_proxy.set("500")
    client = client_for(fault_proxy.base_url, fault_proxy.model, max_retries=2)
    gave_up = r"kept failing \(HTTP 500: The server had an error.*; 3 attempts\): retry later"
    with pytest.raises(LLMError, match=gave_up) as e:
        client.complete(ASK)
    assert not isinstance(e.value, EndpointUnreachable) and fault_proxy.posts() == 3
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("mode,what", [("malformed", "with invalid JSON"), ("no_choices", "without choices")])
def test_malformed_replies_are_not_retried(fault_proxy, mode, what):  # noqa: F811
    fault_proxy.set(mode)
    client = client_for(fault_proxy.base_url, fault_proxy.model)
    with pytest.raises(MalformedReply, match=f"answered 200 {what}.*OpenAI-compatible /v1 API"):
        client.complete(ASK)
    assert fault_proxy.posts() == 1 and client.usage.failed == 1 and client.usage.retries == 0


def test_content_none_is_malformed():
    client = client_for("http://127.0.0.1:9/v1", "m")
    body = {"choices": [{"message": {"role": "assistant", "content": None}, "finish_reason": "stop"}]}
    with pytest.raises(MalformedReply, match="without text content"):
        client._parse(json.dumps(body))


def test_reply_without_usage_counts_zero_tokens(fault_proxy):  # noqa: F811
    fault_proxy.set("no_usage")
    client = client_for(fault_proxy.base_url, fault_proxy.model)
    reply = client.complete(ASK)
    assert reply.text and (reply.prompt_tokens, reply.completion_tokens) == (0, 0)
    assert client.usage.missing_usage == 1 and "1 reply without token counts" in client.usage.summary()


def test_slow_server_times_out(fault_proxy, monkeypatch):  # noqa: F811
    monkeypatch.setattr(llm, "_CHECK_TIMEOUT_S", 0.5)  # the check's own timeout (5 s), not --timeout
    fault_proxy.set("slow", slow_s=5.0)
    client = client_for(fault_proxy.base_url, fault_proxy.model, timeout_s=0.5, max_retries=1)
    start = time.monotonic()
    with pytest.raises(EndpointUnreachable, match="no answer in time"):
        client.check()
    with pytest.raises(LLMError, match=r"timed out after 0.5 s \(2 attempts\): raise --timeout"):
        client.complete(ASK)
    assert time.monotonic() - start < 4.0 and fault_proxy.posts() == 2


def test_budget_counts_every_request(fault_proxy):  # noqa: F811
    model = fault_proxy.model
    client = client_for(fault_proxy.base_url, model, max_requests=2)
    client.complete(ask(1))
    client.complete(ask(2))
    with pytest.raises(BudgetExceeded, match=r"budget spent: 2 of max_requests=2 sent; raise --max-requests"):
        client.complete(ask(3))
    assert fault_proxy.posts() == 2 and client.complete(ask(1)).cached  # cached replies stay free
    fault_proxy.set("500")
    retrying = client_for(fault_proxy.base_url, model, max_requests=2, max_retries=5)
    with pytest.raises(BudgetExceeded):
        retrying.complete(ask(4))
    assert fault_proxy.posts() == 4 and retrying.usage.requests == 2 and retrying.usage.retries == 1


def test_unknown_model_names_what_the_server_serves(llm_server):  # noqa: F811
    client = client_for(llm_server.base_url, "no-such-model", max_retries=0)
    with pytest.raises(LLMError, match=r"rejected the request \(HTTP 400: .*no-such-model.*pass --llm-model; "
                       r"the server lists: " + llm_server.model):
        client.complete(ASK)
    assert client.usage.requests == 1


def test_prices_give_a_cost(llm_server):  # noqa: F811
    client = client_for(llm_server.base_url, llm_server.model, price_in=2.0, price_out=10.0)
    reply = client.complete(ASK)
    expected = (reply.prompt_tokens * 2.0 + reply.completion_tokens * 10.0) / 1e6
    assert client.usage.cost_usd == pytest.approx(expected) and expected > 0
    assert f"cost ${expected:.4f}" in client.usage.summary()
    assert client.usage.to_dict()["cost_usd"] == pytest.approx(expected)


def test_config_from_environment(monkeypatch):
    for name in (llm.ENV_BASE_URL, llm.ENV_MODEL, llm.ENV_API_KEY, "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(LLMError, match="no LLM model named: pass --llm-model or set TL_REASONING_LLM_MODEL"):
        EndpointConfig().resolve()
    cfg = EndpointConfig(model="m").resolve()
    assert (cfg.base_url, cfg.api_key) == ("https://api.openai.com/v1", "EMPTY")
    assert cfg.public()["api_key"] == "not set"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://openai-env/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "openai-env-key")
    assert EndpointConfig(model="m").resolve().base_url == "http://openai-env/v1"
    monkeypatch.setenv(llm.ENV_BASE_URL, "http://tl-env:8000/v1/")
    monkeypatch.setenv(llm.ENV_MODEL, "env-model")
    monkeypatch.setenv(llm.ENV_API_KEY, KEY)
    cfg = EndpointConfig().resolve()
    assert (cfg.base_url, cfg.model, cfg.api_key) == ("http://tl-env:8000/v1", "env-model", KEY)
    cfg = EndpointConfig(base_url="http://arg/v1", model="arg", api_key="arg-key").resolve()
    assert (cfg.base_url, cfg.model, cfg.api_key) == ("http://arg/v1", "arg", "arg-key")
    assert EndpointConfig().model is None  # resolve() returns a new object


@pytest.mark.parametrize("settings,match", [
    ({"timeout_s": 0}, "timeout_s=0: --timeout must be positive"),
    ({"max_retries": -1}, "--max-retries"),
    ({"max_tokens": 0}, "--llm-max-tokens"),
    ({"temperature": -0.5}, "--llm-temperature"),
    ({"max_requests": -1}, "--max-requests"),
    ({"price_in": 1.0}, "pass both --price-in and --price-out"),
    ({"base_url": "localhost:8000"}, "not an http"),
])
def test_invalid_settings_are_refused(settings, match):
    with pytest.raises(LLMError, match=match):
        EndpointConfig(model="m", **settings).resolve()


def test_key_never_leaks():
    cfg = EndpointConfig(base_url="http://127.0.0.1:9/v1", model="m", api_key=KEY)
    with closed_port() as port:
        client = ChatClient(EndpointConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", api_key=KEY,
                                           max_retries=0))
        errors = []
        for call in (client.check, lambda: client.complete(ASK)):
            with pytest.raises(LLMError) as e:
                call()
            errors.append(f"{e.value} {e.value!r}")
    texts = [repr(cfg), str(cfg), repr(cfg.resolve()), json.dumps(cfg.public()), repr(client.config),
             client.usage.summary(), json.dumps(client.usage.to_dict()), repr(client.usage), *errors]
    assert all(KEY not in text for text in texts) and cfg.public()["api_key"] == "set"
    assert str(client._fail(LLMError, f"server said: bad key {KEY}")) == "server said: bad key ***"


def test_usage_summary_format():
    usage = Usage(requests=12, retries=1, cache_hits=3, prompt_tokens=5230, completion_tokens=1100,
                  seconds=14.2, cost_usd=0.0081)
    assert usage.summary() == ("LLM: 12 requests (1 retry), 3 cached, 5,230 prompt + 1,100 completion "
                               "tokens, 14.2 s, cost $0.0081")


def test_backoff_schedule(monkeypatch):
    monkeypatch.setattr(llm, "_BACKOFF_BASE_S", 0.5)  # production value
    assert [llm.backoff_s(i) for i in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_import_is_light():
    code = "import sys, tl_reasoning.autointerp.llm; assert 'openai' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
