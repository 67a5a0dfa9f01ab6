"""The bridge end to end: registration, offline lm-eval tasks exported from tl-reasoning, lm-eval tasks as corpora."""

from __future__ import annotations

import json

import pytest

from tl_reasoning.plugins import get_registry, plugin_report


def test_registered_through_entry_point():
    infos, failures = plugin_report()
    info = {i.name: i for i in infos}["lm_eval_bridge"]
    assert info.distribution == "tl-reasoning-lm-eval"
    assert info.registered == {"corpus": ["lm-eval"], "benchmark": ["lm-eval"]}
    assert not [f for f in failures if f.name == "lm_eval_bridge"]


def test_register_adds_the_model_type_and_keeps_lm_evals_own():
    from lm_eval.api.registry import get_model
    from tl_reasoning_lm_eval import TLReasoningLM, register

    assert register() == "tl-reasoning" and register() == "tl-reasoning"  # idempotent
    assert get_model("tl-reasoning") is TLReasoningLM and get_model("tl_reasoning") is TLReasoningLM
    assert get_model("dummy").__name__ == "DummyLM"  # lm-eval's own types still resolve


def test_export_then_simple_evaluate_offline_with_steering(tmp_path, reasoning_items):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager
    from tl_reasoning_lm_eval import export_benchmark_task, export_corpus_task, register

    bench = export_benchmark_task(reasoning_items, tmp_path, name="tlr_answers", max_gen_toks=10)
    corpus = export_corpus_task("organism:reasoning", tmp_path, limit=2)
    assert bench.name == "tlr_answers.yaml" and corpus.stem == "tlr_organism_reasoning"
    rows = [json.loads(line) for line in (tmp_path / "tlr_answers.jsonl").read_text().splitlines()]
    assert [r["answer"] for r in rows] == [str(i["answer"]) for i in reasoning_items]
    register()
    manager = TaskManager(include_path=str(tmp_path), include_defaults=False)
    common = dict(tasks=["tlr_answers", "tlr_organism_reasoning"], task_manager=manager, bootstrap_iters=0,
                  log_samples=True)
    base = simple_evaluate(model="tl-reasoning", model_args="model=organism,backend=hooked,batch_size=3", **common)
    steered = simple_evaluate(
        model="tl-reasoning", model_args="model=organism,backend=hooked,sae=organism,features=0;1,strength=10,f_max=5",
        **common)
    # the organism answers its own held-out reasoning traces: the regex filter and exact_match work
    assert base["results"]["tlr_answers"]["exact_match,answer"] == 1.0
    responses = [s["filtered_resps"] for s in base["samples"]["tlr_answers"]]
    assert responses == [[str(i["answer"])] for i in reasoning_items]
    ppl = base["results"]["tlr_organism_reasoning"]["word_perplexity,none"]
    assert 1.0 < ppl < 3.0
    assert steered["results"]["tlr_organism_reasoning"]["word_perplexity,none"] != pytest.approx(ppl, rel=1e-4)
    assert steered["config"]["tl_reasoning_steering"][0]["features"] == [0, 1]
    assert base["config"]["tl_reasoning_steering"] == []


def test_lm_eval_tasks_as_tl_reasoning_corpus_and_benchmark(tmp_path, reasoning_items, monkeypatch):
    from tl_reasoning_lm_eval import export_benchmark_task

    from tl_reasoning import load_benchmark, load_corpus

    yaml_path = export_benchmark_task(reasoning_items, tmp_path, name="tlr_answers")
    docs = list(load_corpus(f"lm-eval:{yaml_path}"))
    assert [d["prompt"] for d in docs] == [i["prompt"] for i in reasoning_items]
    assert docs[0]["text"] == reasoning_items[0]["prompt"] + str(reasoning_items[0]["answer"])
    monkeypatch.setenv("TL_REASONING_LM_EVAL_INCLUDE", str(tmp_path))
    items = load_benchmark("lm-eval", split="tlr_answers")
    assert [i["answer"] for i in items] == [str(i["answer"]) for i in reasoning_items]
    assert items[0]["text"] == items[0]["prompt"] and items[0]["task"] == "tlr_answers"
    with pytest.raises(ValueError, match="name the lm-eval task"):
        get_registry("corpus").get("lm-eval").obj(split=None)
    from tl_reasoning_lm_eval import task_documents

    with pytest.raises(ValueError, match="cannot load task 'no_such_task_xyz'"):
        task_documents("no_such_task_xyz", include_defaults=False)  # (lm-eval's own index takes ~10 s to build)


def test_cli_exports_and_runs_lm_eval_with_the_model_type(tmp_path, capsys):
    from tl_reasoning_lm_eval.cli import lm_eval_argv, main

    assert lm_eval_argv(["--tasks", "x"]) == ["--model", "tl-reasoning", "--tasks", "x"]
    assert lm_eval_argv(["run", "--tasks", "x"]) == ["run", "--model", "tl-reasoning", "--tasks", "x"]
    assert lm_eval_argv(["--model", "hf", "--tasks", "x"]) == ["--model", "hf", "--tasks", "x"]
    assert lm_eval_argv(["ls", "tasks"]) == ["ls", "tasks"]
    assert main(["export-task", "--corpus", "organism:reasoning", "--limit", "1", "--out", str(tmp_path)]) == 0
    assert "task tlr_organism_reasoning" in capsys.readouterr().out
    out = tmp_path / "results"
    # lm-eval's CLI defaults to --device cuda:0; the model falls back to the CPU when there is none
    main(["--model_args", "model=organism,backend=nnsight", "--tasks", "tlr_organism_reasoning", "--include_path",
          str(tmp_path), "--output_path", str(out)])
    written = list(out.rglob("results_*.json"))
    assert len(written) == 1
    results = json.loads(written[0].read_text())
    assert results["config"]["tl_reasoning_backend"] == "nnsight"
    assert results["results"]["tlr_organism_reasoning"]["word_perplexity,none"] > 1.0
