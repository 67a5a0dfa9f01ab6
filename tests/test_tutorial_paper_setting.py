"""Tutorial 05 (the paper's setting on DeepSeek-R1-Distill-Llama-8B) is not executed in CI: it needs a GPU
and downloads. Here it is imported with the network blocked and checked up to its first download: the
configuration and its checks, the paper's model/SAE specs (which fail fast offline with
``ArtifactUnavailableError``), the benchmark files, and — on the model organism instead of the 8B model —
the stages after the download, so the tutorial keeps calling the current API.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tl_reasoning
from tl_reasoning.loading.hub import ArtifactUnavailableError, hub_reachable

ROOT = Path(__file__).resolve().parent.parent
PATH = ROOT / "tutorials" / "05_paper_setting_r1_distill_llama_8b.py"
PAPER_SAE = "andreuka18/deepseek-r1-distill-llama-8b-lmsys-openthoughts/blocks.19.hook_resid_post"
FAST = 60.0  # seconds: a fast failure (the import of sae-lens alone takes seconds on a busy CPU), not a hang


def _blocked(*args, **kwargs):
    raise OSError("network blocked by the test")


@pytest.fixture
def no_network(monkeypatch):
    """Every socket connection fails, and the Hub probe is forgotten before and after."""
    monkeypatch.setattr(socket.socket, "connect", _blocked)
    monkeypatch.setattr(socket.socket, "connect_ex", _blocked)
    monkeypatch.setattr(socket, "create_connection", _blocked)
    hub_reachable.cache_clear()
    yield
    hub_reachable.cache_clear()


def _import(monkeypatch, **env):
    for name in ("TL_REASONING_RUN_PAPER", "TL_REASONING_PAPER_PRESET", "TL_REASONING_PAPER_DATA",
                 "TL_REASONING_PAPER_CORPUS", "TL_REASONING_PAPER_DEVICE", "TL_REASONING_PAPER_OUT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("paper_setting_tutorial", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tutorial(monkeypatch, no_network):
    """The tutorial imported as a module (its plan printed), with no network."""
    return _import(monkeypatch)


def test_not_executed_by_the_tutorial_runner():
    from tests.test_tutorials import NOT_EXECUTED, TUTORIALS

    assert NOT_EXECUTED in PATH.read_text(encoding="utf-8")
    assert PATH not in TUTORIALS
    assert any(p.name.startswith("01_") for p in TUTORIALS)


def test_import_builds_and_checks_the_configuration(monkeypatch, no_network, capsys):
    tutorial = _import(monkeypatch)
    setting = tutorial.SETTING
    assert isinstance(setting, tutorial.PaperSetting)
    assert isinstance(tutorial.STATS_CONFIG, tl_reasoning.StatsConfig)
    assert tutorial.STATS_CONFIG.window == setting.window and tutorial.STATS_CONFIG.max_tokens == setting.max_tokens
    assert isinstance(tutorial.PROBLEMS, list)
    out = capsys.readouterr().out
    assert PAPER_SAE in out and "generated tokens" in out


def test_paper_specs_are_well_formed(tutorial):
    setting = tutorial.PaperSetting()
    assert setting.model == "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
    assert setting.sae_spec == PAPER_SAE
    site = tl_reasoning.Site.parse(setting.site)
    assert (site.layer, site.kind) == (19, "resid_post") and site.layer < setting.n_layers
    assert (setting.alpha, setting.quantile, setting.strength) == (0.7, 0.997, 2.0)
    assert (setting.temperature, setting.top_p, setting.max_new_tokens) == (0.6, 0.95, 32_768)
    assert set(setting.from_env().benchmarks) == {"AIME-2024", "MATH-500", "GPQA-Diamond"}


def test_presets(monkeypatch, no_network):
    paper = _import(monkeypatch, TL_REASONING_PAPER_PRESET="paper").SETTING
    assert (paper.n_samples, paper.limit, paper.max_tokens, paper.n_steered) == (4, None, 10_000_000, 10)
    quick = _import(monkeypatch).SETTING
    assert quick.max_tokens < paper.max_tokens and quick.limit and quick.max_new_tokens < paper.max_new_tokens
    assert (quick.model, quick.sae_spec, quick.strength) == (paper.model, paper.sae_spec, paper.strength)
    with pytest.raises(ValueError, match="quick"):
        _import(monkeypatch, TL_REASONING_PAPER_PRESET="huge")


def _benchmark_files(folder: Path) -> dict[str, str]:
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([{"id": 60, "problem": "Find $x$ if $x + 1 = 5$.", "solution": "...", "answer": "4"},
                  {"id": 61, "problem": "What is 2 + 2?", "solution": "...", "answer": "4"}]
                 ).to_parquet(folder / "aime.parquet")
    with (folder / "math.jsonl").open("w", encoding="utf-8") as f:
        f.write(json.dumps({"problem": "Simplify $\\frac{2}{4}$.", "solution": "...", "answer": "\\frac{1}{2}",
                            "subject": "Algebra", "level": 1, "unique_id": "test/algebra/1.json"}) + "\n")
    pd.DataFrame([{"Question": "Which is a noble gas?", "Correct Answer": "Neon", "Incorrect Answer 1": "Iron",
                   "Incorrect Answer 2": "Sodium", "Incorrect Answer 3": "Carbon", "Record ID": "rec1"}]
                 ).to_csv(folder / "gpqa.csv", index=False)
    return {"AIME-2024": str(folder / "aime.parquet"), "MATH-500": str(folder / "math.jsonl"),
            "GPQA-Diamond": str(folder / "gpqa.csv")}


def test_check_setting_reports_what_is_missing(tutorial, tmp_path):
    missing = dataclasses.replace(tutorial.SETTING, benchmarks={"MATH-500": str(tmp_path / "nope.jsonl")},
                                  corpus_file=str(tmp_path / "nope_corpus.jsonl"), device="cpu")
    problems = tutorial.check_setting(missing)
    assert any("MATH-500" in p and "HuggingFaceH4/MATH-500" in p for p in problems)
    assert any("corpus file" in p for p in problems)
    ready = dataclasses.replace(tutorial.SETTING, benchmarks=_benchmark_files(tmp_path), device="cpu")
    assert tutorial.check_setting(ready) == []
    with pytest.raises(ValueError, match="site"):
        tutorial.check_setting(dataclasses.replace(ready, site="layer19"))


def test_main_stops_before_any_download(tutorial, tmp_path):
    setting = dataclasses.replace(tutorial.SETTING, benchmarks={"MATH-500": str(tmp_path / "nope.jsonl")},
                                  device="cpu", out_dir=str(tmp_path / "out"))
    with pytest.raises(SystemExit, match="MATH-500"):
        tutorial.main(setting)
    assert not (tmp_path / "out").exists()


def test_benchmark_files_load(tutorial, tmp_path):
    setting = dataclasses.replace(tutorial.SETTING, benchmarks=_benchmark_files(tmp_path))
    loaded = tutorial.load_benchmarks(setting)
    types = {name: {item.answer_type for item in items} for name, items in loaded.items()}
    assert types == {"AIME-2024": {"integer"}, "MATH-500": {"math"}, "GPQA-Diamond": {"choice"}}
    assert loaded["GPQA-Diamond"][0].answer in "ABCD"


def test_the_first_downloads_fail_fast_offline(tutorial, tmp_path):
    setting = dataclasses.replace(tutorial.SETTING, device="cpu", out_dir=str(tmp_path))
    for what, call in [
        ("model", lambda: tutorial.load_model_and_sae(setting)),
        ("SAE", lambda: tl_reasoning.load_sae(setting.sae_spec)),
        ("dataset", lambda: tutorial.prepare_corpus(setting)),
    ]:
        start = time.perf_counter()
        with pytest.raises(ArtifactUnavailableError, match="cannot be reached"):
            call()
        assert time.perf_counter() - start < FAST, f"the {what} download did not fail fast offline"


def test_corpus_format(tutorial, tmp_path):
    rows = [{"problem": f"p{i}", "deepseek_reasoning": "Wait, let me check.", "deepseek_solution": "42",
             "domain": d} for i, d in enumerate(["math"] * 6 + ["code"] * 3 + ["science"])]
    picked = tutorial.stratified(rows, 6, seed=42)
    assert len(picked) == 6 and {r["domain"] for r in picked} == {"math", "code", "science"}
    text = tutorial.format_trace(rows[0])
    assert text.startswith("<｜User｜>Return your final response within \\boxed{}. p0<｜Assistant｜><think>\n")
    assert text.endswith("\n</think>\n42")
    given = tmp_path / "corpus.jsonl"
    given.write_text(json.dumps({"text": text}) + "\n", encoding="utf-8")
    assert tutorial.prepare_corpus(dataclasses.replace(tutorial.SETTING, corpus_file=str(given))) == given


def test_script_dry_run_downloads_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TL_REASONING_PAPER")}
    env.pop("TL_REASONING_RUN_PAPER", None)
    env.update(HF_HUB_OFFLINE="1", TL_REASONING_PAPER_OUT=str(tmp_path / "out"))
    run = subprocess.run([sys.executable, str(PATH)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "dry run" in run.stdout and not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def organism():
    model = tl_reasoning.load_model("organism", backend="nnsight")
    return model, tl_reasoning.load_sae("organism")


def test_stages_after_the_download_run_on_the_organism(tutorial, organism, tmp_path, capsys):
    """The post-download stages, with the organism standing in for the 8B model and its SAE."""
    model, sae = organism
    corpus = tmp_path / "corpus.jsonl"
    with corpus.open("w", encoding="utf-8") as f:
        for doc, _ in zip(tl_reasoning.load_corpus("organism:reasoning"), range(24), strict=False):
            f.write(json.dumps({"text": doc["text"]}) + "\n")
    setting = dataclasses.replace(tutorial.SETTING, device="cpu", context_size=128, max_tokens=1500, n_steered=1,
                                  n_random_controls=1, limit=2, n_samples=1, max_new_tokens=6, eval_batch_size=4,
                                  out_dir=str(tmp_path / "out"))
    result = tutorial.score(setting, model, sae, corpus)
    assert result.selected and (tmp_path / "out" / "scores" / "scores.csv").is_file()
    from tl_reasoning.evaluation import load_eval_benchmark

    items = load_eval_benchmark("organism", setting.limit)
    tutorial.show_example(setting, model, sae, result, items)
    evaluations = tutorial.evaluate_all(setting, model, sae, result, {"organism": items})
    summary = evaluations["organism"].summary
    main_rows = summary[summary["kind"] != "control_feature"]
    assert len(main_rows) == 3  # baseline, the steered feature, its random control
    assert (summary["kind"] == "control_feature").sum() == 1  # and that control feature's own row
    assert (tmp_path / "out" / "evaluation" / "organism" / "table.txt").is_file()
    assert "candidates above" in capsys.readouterr().out
