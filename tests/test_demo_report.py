"""The demo report page: real HTML tables with the right headers and numbers, escaped text, wrapped
generations for every kind of condition, and steering plots that draw only measured points."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from types import SimpleNamespace

import pandas as pd
import pytest

from tl_reasoning.demo.config import DemoConfig
from tl_reasoning.demo.report import DemoReport, write_report

EVIL = "<script>window.PWNED=1</script>"


class _Tables(HTMLParser):
    """Every <table> as {"headers": [...], "rows": [[cell text, ...], ...], "classes": [...]} plus <pre> texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.pres: list[tuple[str, str]] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._pre: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append({"headers": [], "rows": [], "classes": [], "css": attrs.get("class", "")})
        elif tag == "tr" and self.tables:
            self._row = []
            self.tables[-1]["classes"].append(attrs.get("class", ""))
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "pre":
            self._pre = (attrs.get("class", ""), [])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            table = self.tables[-1]
            if not table["headers"]:
                table["headers"] = self._row
                table["classes"].pop()
            else:
                table["rows"].append(self._row)
            self._row = None
        elif tag == "pre" and self._pre is not None:
            self.pres.append((self._pre[0], "".join(self._pre[1])))
            self._pre = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._pre is not None:
            self._pre[1].append(data)

    def table_with(self, header: str) -> dict:
        found = [t for t in self.tables if header in t["headers"]]
        assert found, f"no table with a {header!r} column; tables: {[t['headers'] for t in self.tables]}"
        return found[0]


def _row(condition, kind, acc, length, rate, *, d_acc=None, d_len=None, d_rate=None, words=3.0, **extra):
    row = {"condition": condition, "kind": kind, "feature": extra.pop("feature", None), "n_problems": 20,
           "accuracy": acc, "thinking_tokens": length, "word_rate": rate, "reasoning_words": words,
           "finished": 1.0, "capped": 0.0, "rho": 0.2 if kind != "baseline" else None, "repetition_q": 0.12}
    for name, value in (("accuracy_diff", d_acc), ("thinking_tokens_rel", d_len), ("word_rate_rel", d_rate)):
        row[name] = None if value is None else value[0]
        row[f"{name}_low"] = None if value is None else value[1]
        row[f"{name}_high"] = None if value is None else value[2]
    if kind != "baseline":
        row.update(passes_gates=True, gate_noninferior=True, gate_finishes=True, gate_repetition=True)
    row.update(extra)
    return row


def _summary() -> pd.DataFrame:
    return pd.DataFrame([
        _row("baseline", "baseline", 0.8, 100.0, 3.0),
        _row("#7 γ=2", "steering", 0.82, 130.0, 4.0, d_acc=(0.02, -0.01, 0.05), d_len=(30.0, 25.0, 35.0),
             d_rate=(33.3, 20.0, 41.0), feature="7", strength=2.0),
        _row("random~#7 γ=2", "random_features", 0.79, 101.0, 3.1, d_acc=(-0.01, -0.03, 0.0),
             d_len=(1.0, -2.0, 4.0), d_rate=(2.0, -1.0, 5.0), feature="random~7", strength=2.0),
        _row("random~#7 γ=2 · #11", "control_feature", 0.79, 101.0, 3.1, d_acc=(-0.01, -0.03, 0.0),
             d_len=(1.0, -2.0, 4.0), d_rate=(2.0, -1.0, 5.0), feature="11", parent="random~#7 γ=2"),
        _row("word ban", "word_ban", 0.7, 90.0, 0.0, words=0.0, d_acc=(-0.1, -0.2, -0.02),
             d_len=(-10.0, -15.0, -5.0), d_rate=(-100.0, -100.0, -100.0)),
        _row("random word ban", "random_word_ban", 0.8, 99.0, 3.0, d_acc=(0.0, -0.02, 0.02),
             d_len=(-1.0, -3.0, 1.0), d_rate=(0.0, -2.0, 2.0)),
    ])


def _records(summary: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for condition in summary["condition"]:
        if " · " in condition:
            continue
        for run in (0, 1):
            rows.append({"condition": condition, "run": run, "item_id": "p-0", "sample": 0, "gold": "12",
                         "extracted": "12", "correct": True, "thinking_tokens": 40, "reasoning_words": 2,
                         "capped": False, "text": f"{condition}: Wait, let me check. {EVIL} " + "x " * 200})
    return pd.DataFrame(rows)


def _validation() -> dict:
    return {"meta": {"n_ground_truth": 5, "chance_precision": 0.01},
            "selection": [{"selector": "reason_score", "n_selected": 4, "n_true_selected": 3, "precision": 0.75,
                           "recall": 0.6, "average_precision": 0.55},
                          {"selector": "random", "n_selected": 4, "n_true_selected": 0, "precision": 0.0,
                           "recall": 0.0, "average_precision": 0.02}],
            "dose_response": [{"group": "oracle", "rho": 0.1, "positions": "thinking", "n_runs": 1,
                               "measured_rho": 0.098, "finished": 0.97, "thinking_tokens_rel": 24.0,
                               "thinking_tokens_rel_low": 18.0, "thinking_tokens_rel_high": 30.0}]}


CLAIMS = {"verdict": "NOT REPRODUCED",
          "candidates": [{"feature": 7, "rho": 0.2, "delta_thinking_pct": 30.0, "delta_word_rate_pct": 33.3,
                          "delta_accuracy_pts": 2.0, "finished_pct": 100.0}],
          "controls": {"n": 10, "mean_abs_delta_thinking_pct": 1.0, "mean_abs_delta_word_rate_pct": 2.0},
          "oracle": {"delta_thinking_pct": 24.0, "delta_accuracy_pts": 1.0, "finished_pct": 97.0},
          "ground_truth": {"n_true": 5, "precision": 0.75, "recall": 0.6, "average_precision": 0.55,
                           "baselines": {"random": {"average_precision": 0.02}}}}


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    summary = _summary()
    evaluation = SimpleNamespace(summary=summary, records=_records(summary), items=[], baseline="baseline")
    scored = SimpleNamespace(table=pd.DataFrame({"feature": [7, 3], "reason_score": [0.01, 0.005],
                                                 "top_word": ["wait", EVIL]}), selected=[7])
    presence = SimpleNamespace(summary_frame=lambda: pd.DataFrame([
        {"source": "organism", "target": "organism-base", "n_candidates": 4, "present_candidates": 1,
         "fraction_candidates": 0.25, "ci_low": 0.05, "ci_high": 0.7, "n_random": 200, "present_random": 3,
         "fraction_random": 0.015, "random_ci_low": 0.005, "random_ci_high": 0.04, "difference": 0.235,
         "difference_ci_low": 0.01, "difference_ci_high": 0.6, "p_value": 0.04, "median_cosine_candidates": 0.5,
         "median_cosine_random": 0.35},
        {"source": "organism", "target": "organism-stage-S", "n_candidates": 4, "present_candidates": 4,
         "fraction_candidates": 1.0, "n_random": 200, "present_random": 190, "fraction_random": 0.95}]))
    outcome = {"text": "NO VERDICT: constructed", "reproduced": None, "criteria_text": "fixed criteria"}
    report = DemoReport(config=DemoConfig(), out=out, candidates=[7], scored=scored, evaluation=evaluation,
                        presence=presence, figures={}, outcome=outcome, timings={"score": 1.0, "total": 2.0},
                        validation=_validation(), claims=CLAIMS)
    paths = write_report(report)
    text = paths["html"].read_text(encoding="utf-8")
    parser = _Tables()
    parser.feed(text)
    return text, parser, paths


def test_table_1_is_an_html_table_with_cis(page):
    text, parsed, _ = page
    t1 = parsed.table_with("Δ length % [95% CI]")
    assert t1["headers"][:3] == ["condition", "problems", "accuracy %"]
    assert {"Δ accuracy (pts) [95% CI]", "Δ word rate % [95% CI]", "finished %", "gates"} <= set(t1["headers"])
    rows = {r[0]: dict(zip(t1["headers"], r, strict=True)) for r in t1["rows"]}
    assert list(rows) == ["baseline", "#7 γ=2", "random~#7 γ=2"]  # bans and single controls elsewhere
    assert rows["#7 γ=2"]["Δ length % [95% CI]"] == "+30.0 [+25.0, +35.0]"
    assert rows["#7 γ=2"]["Δ accuracy (pts) [95% CI]"] == "+2.0 [-1.0, +5.0]"
    assert rows["#7 γ=2"]["accuracy %"] == "82.0" and rows["baseline"]["thinking tokens"] == "100.0"
    assert "<span class='up'>+30.0" in text  # an interval above 0 is marked
    # the single control features are folded into their own table
    controls = [t for t in parsed.tables if t["headers"][:1] == ["control of"]]
    assert controls and controls[0]["rows"][0][1] == "· #11"
    # no Markdown table in a <pre> any more
    assert not any("| condition |" in body for _, body in parsed.pres)


def test_word_ban_presence_validation_and_claims_tables(page):
    _, parsed, paths = page
    ban = parsed.table_with("reasoning words")
    names = [r[0] for r in ban["rows"]]
    assert names == ["baseline", "word ban", "random word ban"]
    assert ban["rows"][1][ban["headers"].index("reasoning words")] == "0"
    presence = parsed.table_with("source → target")
    assert [r[0] for r in presence["rows"]] == ["organism → organism-base", "organism → organism-stage-S"]
    assert presence["rows"][0][1] == "1/4" and presence["rows"][0][2] == "25 [5, 70]"
    validation = parsed.table_with("n selected")
    assert validation["headers"][:2] == ["selector", "n selected"]
    assert validation["rows"][0][0] == "reason_score" and validation["rows"][0][-1] == "0.550"
    dose = parsed.table_with("Δ thinking length % [CI]")
    assert dose["rows"][0][:3] == ["oracle", "0.1", "thinking"] and dose["rows"][0][6] == "+24.0 [+18.0, +30.0]"
    claims = parsed.table_with("candidate feature")
    assert claims["rows"][0][:3] == ["7", "0.2", "+30.0"]
    data = json.loads(paths["json"].read_text())
    assert data["claims"] == CLAIMS and data["validation"]["selection"][0]["selector"] == "reason_score"


def test_generations_are_wrapped_escaped_and_cover_every_kind(page):
    text, parsed, _ = page
    assert "white-space: pre-wrap" in text
    generations = [body for cls, body in parsed.pres if cls == "gen"]
    for condition in ("baseline", "#7 γ=2", "random~#7 γ=2", "word ban", "random word ban"):
        assert sum(body.startswith(f"{condition}: ") for body in generations) == 1, condition
    assert EVIL not in text and "&lt;script&gt;window.PWNED=1&lt;/script&gt;" in text
    assert "<mark>Wait</mark>" in text  # reasoning words highlighted


def _data_lines(fig):
    """Line2D artists that draw data (reference lines tagged gid='reference' left out)."""
    return [line for ax in fig.axes for line in ax.get_lines() if line.get_gid() != "reference"]


def test_steering_plots_draw_measured_points_only_with_cis():
    from matplotlib.collections import LineCollection

    from tl_reasoning.figures import steering_effects_plot, steering_results_plot

    summary = _summary()
    base = summary[summary["kind"] == "baseline"].assign(feature="7", strength=0.0)
    frame = pd.concat([summary[summary["kind"].isin(["steering", "random_features"])], base,
                       base.assign(feature="random~7")], ignore_index=True)
    frame = pd.concat([frame, frame[frame["kind"] == "steering"].assign(strength=4.0, thinking_tokens_rel=50.0)])
    for fig in (steering_results_plot(frame), steering_effects_plot(summary)):
        lines = _data_lines(fig)
        assert lines
        for line in lines:  # markers only: no line joins two measured strengths
            assert line.get_linestyle() in ("None", "none", " ", ""), line
        bars = [c for ax in fig.axes for c in ax.collections if isinstance(c, LineCollection)]
        assert bars, "no error bars"
    results = steering_results_plot(frame)
    titles = [ax.get_title() for ax in results.axes]
    assert titles == ["accuracy", "thinking length", "reasoning-word rate"]
    assert all(ax.get_ylabel().startswith("Δ vs baseline") for ax in results.axes)
    for ax in results.axes:  # error bars are vertical segments at one strength each
        for coll in ax.collections:
            for seg in coll.get_segments():
                assert seg[0][0] == pytest.approx(seg[-1][0])
    # the baseline is drawn once, not once per group
    labels = results.axes[-1].get_legend_handles_labels()[1]
    assert labels.count("baseline") == 1 and {"7", "random~7"} <= set(labels)
    # without change columns the raw values are plotted, still without lines
    raw = steering_results_plot(pd.DataFrame({"feature": [1, 1], "strength": [0, 2], "accuracy": [0.5, 0.6],
                                              "thinking_tokens": [100, 140], "word_rate": [3.0, 4.0]}))
    assert len(raw.axes) == 3
    assert all(line.get_linestyle() in ("None", "none", " ", "") for line in _data_lines(raw))


def test_a_validation_result_object_renders_with_its_dose_plot(tmp_path):
    from tl_reasoning.demo.report_tables import validation_html
    from tl_reasoning.validate.result import ValidationResult

    data = _validation()
    dose = pd.DataFrame(data["dose_response"]).assign(
        word_rate_rel=5.0, word_rate_rel_low=1.0, word_rate_rel_high=9.0, accuracy_diff=0.01,
        accuracy_diff_low=-0.02, accuracy_diff_high=0.04)
    result = ValidationResult(pd.DataFrame(data["selection"]), dose, meta=data["meta"] | {"sae": "organism"})
    parsed = _Tables()
    parsed.feed(validation_html(result))
    assert [r[0] for r in parsed.table_with("n selected")["rows"]] == ["reason_score", "random"]
    row = parsed.table_with("Δ word rate % [CI]")["rows"][0]
    assert row[7] == "+5.0 [+1.0, +9.0]" and row[8] == "+1.0 [-2.0, +4.0]"
    from tl_reasoning.demo.report import _page_figures

    report = SimpleNamespace(evaluation=SimpleNamespace(summary=_summary()), config=DemoConfig(), out=tmp_path,
                             validation=result)
    made = _page_figures(report)
    assert set(made) == {"effects", "validation"} and all(p.is_file() for p in made.values())
