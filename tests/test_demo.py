"""The demo: outcome check on constructed summaries, and a reduced end-to-end run checking the report."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from tl_reasoning.demo import QUICK, DemoConfig, outcome_check, run_demo, table_1


def _summary(cand: list[tuple[float, float]], ctrl: list[tuple[float, float]]) -> pd.DataFrame:
    rows = [{"condition": "baseline", "kind": "baseline", "feature": None, "accuracy": 0.9,
             "thinking_tokens": 100.0, "word_rate": 3.0, "finished": 1.0, "capped": 0.0, "repetition_q": 0.1}]
    for kind, values in (("steering", cand), ("random_features", ctrl)):
        for i, (length, rate) in enumerate(values):
            rows.append({"condition": f"{kind}{i}", "kind": kind, "feature": i, "accuracy": 0.89,
                         "accuracy_diff": -0.01, "accuracy_diff_low": -0.015, "accuracy_diff_high": 0.0,
                         "capped": 0.0, "repetition_q": 0.12, "thinking_tokens": 100 * (1 + length / 100),
                         "thinking_tokens_rel": length, "thinking_tokens_rel_low": length - 5,
                         "thinking_tokens_rel_high": length + 5, "word_rate": 3 * (1 + rate / 100),
                         "word_rate_rel": rate, "word_rate_rel_low": rate - 5, "word_rate_rel_high": rate + 5,
                         "finished": 1.0})
    return pd.DataFrame(rows)


def test_outcome_check_passes_only_when_candidates_move_and_controls_do_not():
    ok = outcome_check(_summary([(30, 25), (22, 40)], [(1, -2), (-3, 4)]))
    assert ok["reproduced"] and ok["text"].startswith("REPRODUCED")
    assert ok["checks"]["thinking_tokens"]["candidates_mean_percent"] == pytest.approx(26)
    assert ok["checks"]["word_rate"]["controls_mean_abs_percent"] == pytest.approx(3)
    weak = outcome_check(_summary([(30, 10), (22, 12)], [(1, -2)]))
    assert not weak["reproduced"] and weak["text"].startswith("NOT REPRODUCED")
    assert weak["checks"]["word_rate"]["candidates_reaching_target"] == 0
    noisy = outcome_check(_summary([(30, 25)], [(10, -12)]))  # controls move as much: not specific
    assert not noisy["reproduced"] and not noisy["checks"]["thinking_tokens"]["controls_pass"]
    assert not outcome_check(_summary([], []))["reproduced"]


def test_wait_wait_until_the_cap_does_not_pass():
    """A feature that prints "Wait Wait Wait ..." until the token cap: long, word-rich, and no reasoning."""
    summary = _summary([(30, 25)], [(1, -2)])
    wait = {"condition": "#9 γ=2", "kind": "steering", "feature": 9, "accuracy": 0.0, "accuracy_diff": -0.9,
            "accuracy_diff_low": -0.95, "accuracy_diff_high": -0.85, "thinking_tokens": 320.0,
            "thinking_tokens_rel": 220.0, "thinking_tokens_rel_low": 200.0, "thinking_tokens_rel_high": 240.0,
            "word_rate": 100.0, "word_rate_rel": 3200.0, "word_rate_rel_low": 3000.0, "word_rate_rel_high": 3400.0,
            "finished": 0.0, "capped": 1.0, "repetition_q": 0.99}
    alone = outcome_check(pd.concat([summary[summary["kind"] != "steering"], pd.DataFrame([wait])],
                                    ignore_index=True))
    entry = alone["candidates"][0]
    assert not entry["gate_finishes"] and not entry["gate_repetition"] and not entry["gate_noninferior"]
    assert not entry["more_reasoning"] and alone["reproduced"] is False
    assert alone["text"].startswith("NOT REPRODUCED") and "degenerates" in alone["text"]
    # each gate on its own stops it: finishing and accurate, but repetitive
    looping = {**wait, "accuracy_diff_low": 0.0, "finished": 1.0, "capped": 0.0}
    check = outcome_check(pd.concat([summary[summary["kind"] != "steering"], pd.DataFrame([looping])],
                                    ignore_index=True))
    assert check["candidates"][0]["gate_finishes"] and not check["candidates"][0]["gate_repetition"]
    assert check["reproduced"] is False
    # finishing rarely (capped), even when not repetitive
    capped = {**wait, "accuracy_diff_low": 0.0, "finished": 0.9, "repetition_q": 0.1}
    check = outcome_check(pd.concat([summary[summary["kind"] != "steering"], pd.DataFrame([capped])],
                                    ignore_index=True))
    assert not check["candidates"][0]["gate_finishes"] and check["reproduced"] is False
    # one good and one degenerate candidate: half show more reasoning, which is enough
    both = outcome_check(pd.concat([summary, pd.DataFrame([wait])], ignore_index=True))
    assert both["n_more_reasoning"] == 1 and both["n_candidates"] == 2 and both["reproduced"] is True
    assert "Criteria:" in both["text"] and "non-inferior" in both["criteria_text"]


def test_no_verdict_below_the_minimum_sample():
    summary = _summary([(30, 25), (22, 40)], [(1, -2), (-3, 4)])  # would pass with enough problems
    small = outcome_check(summary, n_problems=12, min_problems=20)
    assert small["reproduced"] is None and small["text"].startswith("NO VERDICT")
    assert "REPRODUCED" not in small["text"] and "12 problems" in small["text"]
    assert outcome_check(summary, n_problems=20, min_problems=20)["reproduced"] is True


def test_quick_is_below_the_verdict_minimum_and_default_is_not():
    assert QUICK["problems"] < DemoConfig().min_verdict_problems <= DemoConfig().problems


def test_time_estimates_fit_the_budgets():
    """The up-front estimate (measured costs on 2 busy cores): full demo well under 10 min, --quick under 60 s."""
    from tl_reasoning.demo import estimated_seconds

    assert estimated_seconds(DemoConfig()) < 8 * 60
    assert estimated_seconds(DemoConfig().replace(**QUICK)) < 45
    assert estimated_seconds(DemoConfig().replace(model="some/hf-model")) is None


def test_table_1_has_one_row_per_condition_with_changes():
    text = table_1(_summary([(30, 25)], [(1, -2)]))
    lines = text.splitlines()
    assert len(lines) == 2 + 3
    assert "+30.0 [+25.0, +35.0]" in lines[3] and "-1.0 [-1.5, +0.0]" in lines[3]
    assert "| 100 | 0 | 0.12 |" in lines[3]  # finished %, capped %, repetition quantile


def test_config_rejects_unknown_settings():
    with pytest.raises(TypeError):
        DemoConfig().replace(gamma=2)


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    report = run_demo(DemoConfig().replace(**QUICK), out, progress=lines.append)
    return report, out, lines


def test_demo_writes_the_report_folder(quick_report):
    report, out, lines = quick_report
    for name in ("report.html", "report.json", "table.md", "dashboard.html", "scores.png", "steering.png",
                 "scores/scores.csv", "scores/stats.safetensors", "evaluation/summary.csv",
                 "evaluation/generations.jsonl", "diffing/diff.json"):
        assert (out / name).is_file(), name
    data = json.loads((out / "report.json").read_text())
    assert data["candidates"] == report.candidates and len(report.candidates) == QUICK["candidates"]
    conditions = [row["condition"] for row in data["summary"]]
    assert conditions[0] == "baseline"
    assert any(c.startswith(f"#{report.candidates[0]} ") for c in conditions)
    assert any(c.startswith("random~") for c in conditions)
    assert {"word ban", "random word ban"} <= set(conditions)
    assert set(data["outcome"]["checks"]) == {"thinking_tokens", "word_rate"}
    assert data["timings_s"]["total"] > 0
    # diffing: against the base model's SAE and, on the organism, the stage-wise SAEs that are shipped
    from tl_reasoning.plugins import get_registry

    stages = {n for n in get_registry("sae").names() if n.startswith("organism-stage-")}
    assert {row["target"] for row in data["diffing"]} == {"organism-base", *stages}
    assert all(row["source"] == "organism" for row in data["diffing"])
    # word ban really bans: no reasoning word in the banned condition's thinking
    banned = [row for row in data["summary"] if row["condition"] == "word ban"][0]
    assert banned["reasoning_words"] == 0
    # progress was reported per step and per batch, after an estimate of the run time
    assert any("1/5" in line for line in lines) and any("generations" in line for line in lines)
    # issue 15: the positive control runs as its own kind, and report.json carries the claims object
    oracle = [row for row in data["summary"] if row["condition"].startswith("oracle direction")]
    assert len(oracle) == 1 and oracle[0]["kind"] == "direction"
    claims = data["claims"]
    assert {"verdict", "candidates", "controls", "oracle", "ground_truth"} <= set(claims)
    assert claims["verdict"] in ("REPRODUCED", "NOT REPRODUCED")
    assert [c["feature"] for c in claims["candidates"]] == report.candidates  # the oracle is not a candidate
    assert set(claims["candidates"][0]) == {"feature", "rho", "delta_thinking_pct", "delta_word_rate_pct",
                                            "delta_accuracy_pts", "finished_pct"}
    assert {"delta_thinking_pct", "delta_accuracy_pts", "finished_pct"} <= set(claims["oracle"])
    assert claims["controls"]["n"] == sum(row["kind"] == "control_feature" for row in data["summary"])
    gt = claims["ground_truth"]
    assert {"n_true", "precision", "recall", "average_precision", "baselines"} <= set(gt)
    assert set(gt["baselines"]) == {"separability", "output_score", "random"}
    assert "this takes about" in lines[0]
    # the scores folder names its model, SAE and data: `dashboard --scores OUT/scores` needs no --data
    meta = json.loads((out / "scores" / "meta.json").read_text())
    assert {k: meta["sources"][k] for k in ("model", "sae", "data")} == {
        "model": "organism", "sae": "organism", "data": "organism:reasoning"}


def test_quick_baseline_finishes_thinking_and_gives_no_verdict(quick_report):
    """QUICK's max_new_tokens covers the organism's unsteered generations: the baseline table is meaningful."""
    report, _, _ = quick_report
    baseline = report.evaluation.summary.set_index("condition").loc["baseline"]
    assert baseline["finished"] == 1.0 and baseline["accuracy"] > 0.5
    records = report.evaluation.records
    assert records.loc[records["condition"] == "baseline", "think_closed"].all()
    assert report.outcome["reproduced"] is None and report.outcome["text"].startswith("NO VERDICT")


def test_demo_html_is_self_contained(quick_report):
    _, out, _ = quick_report
    page = (out / "report.html").read_text()
    assert "Table 1" in page and page.count("data:image/png;base64,") >= 2
    assert not re.search(r"""(src|href)=["']https?://""", page)
    table = (out / "table.md").read_text()
    assert table.startswith("| condition |") and ("NO VERDICT" in table)


def test_demo_cli_quick(tmp_path, capsys):
    from tl_reasoning.cli import main

    code = main(["demo", "--quick", "--quiet", "--no-base-sae", "--problems", "2", "--no-word-ban",
                 "--out", str(tmp_path / "d")])
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.startswith("| condition |") and "baseline" in printed
    assert "NO VERDICT" in printed and "REPRODUCED" not in printed
    data = json.loads((tmp_path / "d" / "report.json").read_text())
    assert data["diffing"] is None and data["config"]["problems"] == 2
    assert not any(row["condition"] == "word ban" for row in data["summary"])
    assert main(["demo", "--quick", "--problems", "0", "--out", str(tmp_path / "e")]) == 1


def test_demo_samples_as_the_paper_when_asked(tmp_path, capsys):
    """--samples 2 --temperature 0.6: sampled generations, maj@k reported; bad values are refused."""
    import json

    from tl_reasoning.cli import main

    args = ["demo", "--quick", "--out", str(tmp_path / "d"), "--problems", "3", "--samples", "2",
            "--temperature", "0.6", "--max-new-tokens", "64", "--no-base-sae", "--no-word-ban",
            "--random-word-bans", "0", "--quiet"]
    assert main(args) == 0
    config = json.loads((tmp_path / "d" / "evaluation" / "config.json").read_text())
    assert config["do_sample"] is True and config["temperature"] == 0.6 and config["n_samples"] == 2
    assert config["top_p"] == 0.95
    capsys.readouterr()
    assert main([*args[:-1], "--temperature", "-1"]) == 1
    assert "--temperature must be" in capsys.readouterr().err
    assert main([*args[:-1], "--oracle-rho", "-0.2"]) == 1
    assert "--oracle-rho must be a finite number >= 0" in capsys.readouterr().err
