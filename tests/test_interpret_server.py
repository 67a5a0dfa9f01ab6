"""`tl-reasoning interpret` end to end against a real OpenAI-compatible server (`transformers serve` on the
organism), through a fault proxy: requests, cache, accounting, key hygiene, budget and the error paths.

The organism is an arithmetic model, so its "descriptions" are nonsense; these tests check the pipeline."""

from __future__ import annotations

import json
import time

import pytest

import tl_reasoning
from tests.llm_server import closed_port, fault_proxy, llm_server  # noqa: F401 - fixtures
from tl_reasoning.autointerp import llm
from tl_reasoning.cli import main

KEY = "sk-interpret-SECRET-41d2c9"


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch):
    monkeypatch.setattr(llm, "_BACKOFF_BASE_S", 0.05)


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    out = tmp_path_factory.mktemp("scores")
    model, sae = tl_reasoning.load_model("organism"), tl_reasoning.load_sae("organism")
    tl_reasoning.score_features(model, sae, "organism:reasoning", max_docs=60).save(out)
    return out


def run_interpret(scored, out, base_url, model, *extra, features="3,5"):
    argv = ["interpret", "--scores", str(scored), "--data", "organism:reasoning", "--features", features,
            "--n-prompts", "2", "--strengths", "0,2", "--max-new-tokens", "6", "--max-docs", "20", "--contexts", "3",
            "--base-url", base_url, "--llm-model", model, "--llm-max-tokens", "12", "--out", str(out), "--quiet",
            *extra]
    return main(argv)


def test_interpret_runs_end_to_end_and_a_rerun_costs_nothing(scored, fault_proxy, tmp_path, capsys,  # noqa: F811
                                                            monkeypatch):
    monkeypatch.setenv("TL_REASONING_LLM_API_KEY", KEY)
    fault_proxy.set("pass", require_key=KEY)
    assert run_interpret(scored, tmp_path, fault_proxy.base_url, fault_proxy.model) == 0
    first = capsys.readouterr()
    assert fault_proxy.posts() == 3  # two descriptions and one grouping request
    usage = json.loads((tmp_path / "usage.json").read_text())
    assert usage["usage"]["requests"] == 3 and usage["usage"]["cache_hits"] == 0
    assert usage["usage"]["prompt_tokens"] > 500 and usage["usage"]["completion_tokens"] > 0
    assert usage["explainer"]["api_key"] == "set" and "LLM: 3 requests" in first.err
    saved = json.loads((tmp_path / "explanations.json").read_text())
    assert [f["feature"] for f in saved["features"]] == [3, 5] and saved["model"] == fault_proxy.model
    assert all(f["description"] and f["group"] for f in saved["features"])
    assert (tmp_path / "groups.png").is_file() and (tmp_path / "llm_cache.jsonl").read_text().count("\n") == 3

    assert run_interpret(scored, tmp_path, fault_proxy.base_url, fault_proxy.model) == 0
    second = capsys.readouterr()
    assert fault_proxy.posts() == 3 and "LLM: 0 requests, 3 cached" in second.err
    assert json.loads((tmp_path / "explanations.json").read_text()) == saved
    for path in tmp_path.iterdir():
        assert KEY not in path.read_bytes().decode("utf-8", "replace"), path.name
    assert KEY not in first.out + first.err + second.out + second.err


def test_server_down_fails_in_seconds_before_any_model_work(scored, tmp_path, capsys):
    with closed_port() as port:
        start = time.perf_counter()
        code = run_interpret(scored, tmp_path, f"http://127.0.0.1:{port}/v1", "organism")
        took = time.perf_counter() - start
    err = capsys.readouterr().err.strip()
    assert code == 1 and took < 15 and "cannot reach the LLM endpoint" in err and "--evidence-only" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "evidence.json").exists()


def test_a_refused_key_fails_before_any_model_work(scored, fault_proxy, tmp_path, capsys, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TL_REASONING_LLM_API_KEY", "sk-wrong-key-123")
    fault_proxy.set("pass", require_key=KEY)
    assert run_interpret(scored, tmp_path, fault_proxy.base_url, fault_proxy.model) == 1
    err = capsys.readouterr().err
    assert "401" in err and "sk-wrong-key-123" not in err and fault_proxy.posts() == 0
    assert not (tmp_path / "evidence.json").exists()


def test_the_budget_stops_the_run_and_keeps_the_work_done(scored, fault_proxy, tmp_path, capsys):  # noqa: F811
    fault_proxy.set("pass")
    assert run_interpret(scored, tmp_path, fault_proxy.base_url, fault_proxy.model, "--max-requests", "2",
                         features="3,5,9") == 1
    assert "budget" in capsys.readouterr().err.lower() and fault_proxy.posts() == 2
    assert (tmp_path / "evidence.json").is_file() and (tmp_path / "llm_cache.jsonl").read_text().count("\n") == 2
    # the rerun reuses the evidence and the two answers: one description and the grouping are left
    assert run_interpret(scored, tmp_path, fault_proxy.base_url, fault_proxy.model, "--max-requests", "2",
                         features="3,5,9") == 0
    assert fault_proxy.posts() == 4 and "LLM: 2 requests, 2 cached" in capsys.readouterr().err


def test_server_errors_are_retried_and_counted(scored, fault_proxy, tmp_path):  # noqa: F811
    fault_proxy.set("500", first=3)  # the /models check, then the first description twice
    assert run_interpret(scored, tmp_path, fault_proxy.base_url, fault_proxy.model, features="3") == 0
    usage = json.loads((tmp_path / "usage.json").read_text())["usage"]
    assert (usage["requests"], usage["retries"]) == (4, 2) and fault_proxy.posts() == 4


@pytest.mark.parametrize(("mode", "flags", "message"), [
    ("malformed", (), "invalid JSON"),
    ("slow", ("--timeout", "1", "--max-retries", "0"), "timed out after 1"),
    ("500", ("--max-retries", "1"), "HTTP 500"),
])
def test_bad_replies_fail_with_one_line_and_keep_the_evidence(scored, fault_proxy, tmp_path, capsys,  # noqa: F811
                                                             mode, flags, message):
    fault_proxy.set(mode, slow_s=3.0)
    assert run_interpret(scored, tmp_path, fault_proxy.base_url, fault_proxy.model, *flags, features="3") == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert (tmp_path / "evidence.json").is_file() and not (tmp_path / "explanations.json").exists()
