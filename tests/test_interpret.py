"""Automatic interpretation without an LLM: evidence gathering, the template and plugin explainers,
reading LLM answers, the output files, evidence reuse, the CLI and the explainer plugin kind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import tl_reasoning
from tl_reasoning.autointerp import (
    EvidenceConfig,
    EvidenceSet,
    FeatureEvidence,
    SteeredSample,
    explain_evidence,
    gather_evidence,
    group_distribution_plot,
    interpret,
    load_evidence,
)
from tl_reasoning.autointerp.prompts import (
    EXPLAIN_SYSTEM,
    GROUP_SYSTEM,
    UNASSIGNED,
    explain_messages,
    parse_explanation,
    parse_groups,
)
from tl_reasoning.dashboard import load_scores

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"n_prompts": 3, "strengths": (-2.0, 0.0, 2.0), "max_new_tokens": 10, "max_docs": 40, "contexts": 4}


@pytest.fixture(scope="module")
def organism():
    model = tl_reasoning.load_model("organism")
    sae = tl_reasoning.load_sae("organism")
    return model, sae


@pytest.fixture(scope="module")
def scored(organism, tmp_path_factory):
    model, sae = organism
    out = tmp_path_factory.mktemp("scores")
    tl_reasoning.score_features(model, sae, "organism:reasoning", max_docs=80).save(out)
    return out


def test_reading_explanations_tolerates_prose_and_fences_and_keeps_unreadable_answers():
    exp = parse_explanation(3, 'Sure!\n```json\n{"description": "marks a re-check", "labels": ["reflection"], '
                               '"confidence": 0.8}\n```')
    assert (exp.description, exp.labels, exp.confidence, exp.parsed) == ("marks a re-check", ["reflection"], 0.8, True)
    assert parse_explanation(3, '{"description": "x", "confidence": 7}').confidence is None  # out of [0, 1]
    bad = parse_explanation(3, "Tens: 7 - 2 = 5 {not json")
    assert not bad.parsed and bad.description == "Tens: 7 - 2 = 5 {not json" and bad.raw.startswith("Tens")
    assert parse_explanation(3, "   ").description == "(empty answer)"


def test_reading_groups_places_every_feature_once_and_lists_problems():
    text = ('{"groups": [{"name": "Reflection", "features": [1, 2, 99]}, {"name": "Uncertainty", '
            '"features": [2, "x"]}, "junk"]}')
    groups, problems = parse_groups(text, [1, 2, 3])
    assert groups == {1: "Reflection", 2: "Reflection", 3: UNASSIGNED}
    joined = " ".join(problems)
    assert "99" in joined and "placed twice" in joined and "'x'" in joined and "not placed" in joined
    groups, problems = parse_groups("the model rambles", [1, 2])
    assert groups == {1: UNASSIGNED, 2: UNASSIGNED} and "not the requested JSON" in problems[0]


def test_the_prompts_in_the_docs_are_the_prompts_sent():
    doc = " ".join((ROOT / "docs" / "interpret.md").read_text().split())
    for prompt in (EXPLAIN_SYSTEM, GROUP_SYSTEM):
        assert " ".join(prompt.split()) in doc


def test_the_explain_prompt_shows_the_evidence():
    ev = FeatureEvidence(5, contexts=[{"value": 3.5, "center": 1, "tokens": ["Let", " me", " check"],
                                       "values": [0.0, 3.5, 0.0]}],
                         logit_lens={"promoted": [[" wait", 1.0]], "suppressed": [[" the", -1.0]]},
                         word_profile={"wait": 0.75, "hmm": 0.25},
                         steering=[SteeredSample(0.0, 0, "a wait", 2, 1), SteeredSample(2.0, 0, "b b b", 3, 0)])
    user = explain_messages(ev)[1]["content"]
    assert "Let<< me>> check" in user and "' wait'" in user and "'wait' 0.75" in user
    assert "strength +0: 2.0 new tokens, 1.00 reasoning words" in user and "[strength +2, prompt 0] b b b" in user


def test_evidence_is_what_the_tools_it_summarises_give(organism, scored):
    from tl_reasoning.visualizations import gather_top_contexts, logit_lens

    model, sae = organism
    config = EvidenceConfig(features=[5, 9], strengths=[-2.0, 0.0, 2.0], prompts=["Question: 12 + 7 = ?\n"] * 2,
                            max_new_tokens=8, contexts=3, max_docs=40, words=["let me", "wait"])
    evidence = gather_evidence(model, sae, scored, "organism:reasoning", config)
    ev = evidence.by_feature()[9]
    top = gather_top_contexts(model, sae, "organism:reasoning", [9], k=3, max_docs=40).contexts(9)
    assert [c["value"] for c in ev.contexts] == pytest.approx([c["value"] for c in top], abs=1e-5)
    assert ev.logit_lens["promoted"][0][0] == logit_lens(model, sae, [9])[0].promoted[0][0]
    base = tl_reasoning.generate(model, config.prompts, max_new_tokens=8)
    assert [s.text for s in ev.steering if s.strength == 0.0] == [g.text for g in base]
    f_max = float(tl_reasoning.f_max_from_stats(scored, [9])[0])
    assert ev.f_max == pytest.approx(f_max)
    steer = tl_reasoning.feature_steering(sae, [9], strength=2.0, f_max=f_max)
    pushed = tl_reasoning.generate(model, config.prompts, max_new_tokens=8, steering=steer)
    assert [s.text for s in ev.steering if s.strength == 2.0] == [g.text for g in pushed]
    assert set(ev.rho) == {"-2.0", "2.0"} and ev.rho["2.0"] == pytest.approx(pushed[0].push[0].rho, rel=1e-4)
    again = EvidenceSet.from_dict(json.loads(json.dumps(evidence.to_dict())))
    assert again.to_dict() == evidence.to_dict()


def test_interpret_with_the_template_explainer_writes_every_file_and_reuses_evidence(organism, scored, tmp_path,
                                                                                     monkeypatch):
    model, sae = organism
    result = interpret(model, sae, scored, "organism:reasoning", explainer="template", top=3, out=tmp_path, **SMALL)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"evidence.json", "explanations.json", "interpretations.csv", "interpretations.md", "groups.json",
            "groups.png", "usage.json"} <= names
    saved = json.loads((tmp_path / "explanations.json").read_text())
    assert saved["schema"] == "tl-reasoning/explanations/v1" and saved["explainer"] == "template"
    assert [f["feature"] for f in saved["features"]] == [int(f) for f in
                                                         load_scores(scored)[0].feature[:3]]
    assert all(f["description"] and f["group"] for f in saved["features"])
    assert sum(len(v) for v in result.groups().values()) == 3
    table = result.table()
    assert list(table.feature) == [f["feature"] for f in saved["features"]] and table.neuronpedia.isna().all()
    from tl_reasoning.dashboard.descriptions import load_explanations

    assert saved["sae_hash"] and set(load_explanations(tmp_path, sae)) == set(table.feature)
    with pytest.raises(ValueError, match="another SAE"):  # the dashboard refuses descriptions of another SAE
        load_explanations(tmp_path, tl_reasoning.load_sae("organism-base"))

    import tl_reasoning.autointerp.pipeline as pipeline

    def gathered(*args, **kwargs):
        raise RuntimeError("evidence was gathered again")

    monkeypatch.setattr(pipeline, "gather_evidence", gathered)
    interpret(model, sae, scored, "organism:reasoning", explainer="template", top=3, out=tmp_path, **SMALL)
    with pytest.raises(RuntimeError, match="gathered again"):  # other settings: evidence is gathered anew
        interpret(model, sae, scored, "organism:reasoning", explainer="template", top=2, out=tmp_path, **SMALL)


def test_evidence_only_asks_no_explainer(organism, scored, tmp_path):
    model, sae = organism
    evidence = interpret(model, sae, scored, "organism:reasoning", explainer="no-such-explainer", features=[3],
                         evidence_only=True, out=tmp_path, **SMALL)
    assert isinstance(evidence, EvidenceSet) and [p.name for p in tmp_path.iterdir()] == ["evidence.json"]
    assert load_evidence(tmp_path).to_dict() == evidence.to_dict()
    with pytest.raises(KeyError, match="unknown explainer 'no-such-explainer'"):
        interpret(model, sae, scored, "organism:reasoning", explainer="no-such-explainer", features=[3], **SMALL)


def test_a_plugin_explainer_is_used_through_the_registry():
    class Echo:
        calls: list[int] = []

        def explain(self, evidence):
            Echo.calls.append(evidence.feature)
            return {"description": f"feature {evidence.feature}", "labels": ["x"], "confidence": 0.5}

        def group(self, explanations, evidence):
            return {e.feature: "even" if e.feature % 2 == 0 else "odd" for e in explanations}

    class Plugin:
        @tl_reasoning.hookimpl
        def tl_reasoning_register_explainers(self, register):
            register("echo", Echo, "test explainer")

    evidence = EvidenceSet(EvidenceConfig(features=[2, 3]), [FeatureEvidence(2), FeatureEvidence(3)])
    with tl_reasoning.registered_plugin(Plugin(), "echo-plugin"):
        assert "echo" in tl_reasoning.get_registry("explainer")
        result = explain_evidence(evidence, "echo")
    assert Echo.calls == [2, 3] and result.groups() == {"even": [2], "odd": [3]}
    assert result.explanations[0].confidence == 0.5 and result.explainer["explainer"] == "echo"

    class Wrong:
        def explain(self, evidence):
            return 42

    with pytest.raises(TypeError, match="returned int for feature 2"):
        explain_evidence(evidence, Wrong())


def test_group_distribution_plot_shows_the_share_of_each_group():
    fig = group_distribution_plot({"Reflection": [1, 2, 3], "Other Behavior": [4]})
    bars = {p.get_y(): p.get_width() for p in fig.axes[0].patches}
    assert sorted(bars.values()) == pytest.approx([25.0, 75.0])
    with pytest.raises(ValueError, match="no grouped features"):
        group_distribution_plot({})


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "tl_reasoning", *args], capture_output=True, text=True, cwd=cwd,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"}, timeout=300)


def test_cli_interpret_runs_offline_with_the_template_explainer(scored, tmp_path):
    run = _cli("interpret", "--scores", str(scored), "--data", "organism:reasoning", "--explainer", "template",
               "--features", "3,5", "--n-prompts", "2", "--strengths", "0,2", "--max-new-tokens", "6",
               "--max-docs", "20", "--out", str(tmp_path / "out"), "--quiet", "--dashboard", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "feature      3" in run.stdout and json.loads(run.stdout.splitlines()[-1])["out"].endswith("out")
    assert (tmp_path / "out" / "groups.png").stat().st_size > 1000
    board = (tmp_path / "out" / "dashboard.html").read_text()
    described = json.loads((tmp_path / "out" / "explanations.json").read_text())["features"]
    assert board.count("class='tlr-description'") == 2
    assert all(f"id='feature-{f['feature']}'" in board for f in described)


@pytest.mark.parametrize(("flags", "message"), [
    (["--strengths", "1,nan"], "--strengths takes finite numbers"),
    (["--explainer", "nope"], "unknown explainer 'nope'"),
    (["--explainer", "llm", "--api-key-env", "TLR_SURELY_UNSET"], "TLR_SURELY_UNSET: that environment variable"),
])
def test_cli_interpret_refuses_bad_input_in_one_line_before_loading_a_model(scored, tmp_path, flags, message):
    run = _cli("interpret", "--scores", str(scored), "--out", str(tmp_path / "o"), *flags, cwd=tmp_path)
    assert run.returncode == 1 and message in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o" / "evidence.json").exists()


def test_steered_generations_differ_from_the_baseline(organism, scored):
    model, sae = organism
    config = EvidenceConfig(features=[int(load_scores(scored)[0].feature[0])],
                            strengths=[0.0, 4.0], prompts=["Question: 3 + 4 = ?\n"], max_new_tokens=8, max_docs=20,
                            contexts=2, words=["wait"])
    ev = gather_evidence(model, sae, scored, "organism:reasoning", config).features[0]
    texts = {s.strength: s.text for s in ev.steering}
    assert texts[0.0] != texts[4.0] and torch.isfinite(torch.tensor(ev.f_max))


def test_tl_reasoning_plugins_lists_the_explainers(capsys):
    from tl_reasoning.cli import main

    assert main(["plugins"]) == 0
    assert "    explainers: llm, template" in capsys.readouterr().out
    assert tl_reasoning.get_registry("explainer").get("llm").plugin == "builtin_explainers"
