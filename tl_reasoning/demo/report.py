"""The demo's report: the Table-1-like summary, the outcome check, ``report.json/.html`` and ``table.md``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tl_reasoning.demo.config import DemoConfig
from tl_reasoning.evaluation.criteria import as_number

__all__ = ["DemoReport", "outcome_check", "table_1", "write_report"]

_METRICS = (("thinking_tokens", "thinking length"), ("word_rate", "reasoning-word rate"))


@dataclass
class DemoReport:
    """Everything one demo run produced (also written to ``out``)."""

    config: DemoConfig
    out: Path
    candidates: list[int]
    scored: Any
    evaluation: Any
    presence: Any
    figures: dict[str, Path]
    outcome: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    validation: Any = None
    """A :class:`~tl_reasoning.validate.ValidationResult` (or its ``to_json()``), shown when given."""
    claims: dict[str, Any] | None = None
    """The ``claims`` object of ``report.json`` (issue 15's keys), shown at the top when given."""

    def table(self) -> str:
        """The summary table as text (one row per condition)."""
        return table_1(self.evaluation.summary)


def _entry(row: Any, base: dict[str, Any], target: float) -> dict[str, Any]:
    from tl_reasoning.evaluation.criteria import gate_values

    entry: dict[str, Any] = {"condition": row["condition"], "feature": str(row["feature"]),
                             "accuracy": as_number(row.get("accuracy")), "accuracy_diff": as_number(row.get("accuracy_diff")),
                             "accuracy_diff_low": as_number(row.get("accuracy_diff_low")),
                             "finished": as_number(row.get("finished")), "capped": as_number(row.get("capped")),
                             "repetition_q": as_number(row.get("repetition_q"))}
    for metric, _ in _METRICS:
        for suffix in ("", "_low", "_high"):
            entry[f"{metric}_rel{suffix}"] = as_number(row.get(f"{metric}_rel{suffix}"))
    entry.update(gate_values(row, base))
    entry["more_reasoning"] = bool(entry["passes_gates"]) and all(
        entry[f"{m}_rel"] is not None and entry[f"{m}_rel"] >= target for m, _ in _METRICS)
    return entry


def outcome_check(summary: Any, *, target: float = 20.0, limit: float = 5.0, n_problems: int | None = None,
                  min_problems: int = 0) -> dict[str, Any]:
    """Do the candidates show more reasoning, specifically? (issue #7's targets behind issue #14's gates)

    A candidate shows **more reasoning** when it passes the three gates of
    :mod:`tl_reasoning.evaluation.criteria` against the baseline row (non-inferior accuracy, finish
    rate ≥ 95 % of the baseline's, no degeneration; recomputed here from the summary's raw columns)
    **and** raises thinking length and word rate (finished generations) by ≥ ``target`` %.
    ``REPRODUCED`` needs at least half of the candidates (and one) to show more reasoning **and** the
    random controls (averaged rows) to move both metrics by < ``limit`` % in mean absolute change.
    Per-feature control rows give the spread. With ``n_problems`` below ``min_problems`` (a smoke
    run) there is no verdict: ``reproduced`` is ``None`` and the text says so.
    """
    from tl_reasoning.evaluation.criteria import Criteria, criteria_text

    base_rows = summary[summary["kind"] == "baseline"] if "kind" in summary.columns else summary.iloc[:0]
    base = base_rows.iloc[0].to_dict() if len(base_rows) else {}
    rows: dict[str, list[dict[str, Any]]] = {"candidates": [], "controls": [], "control_features": []}
    for group, kind in (("candidates", "steering"), ("controls", "random_features"),
                        ("control_features", "control_feature")):
        for _, row in summary[summary["kind"] == kind].iterrows():
            rows[group].append(_entry(row, base, target))
    verdict: dict[str, Any] = {"target_percent": target, "control_limit_percent": limit,
                               "criteria": Criteria().to_json(), "criteria_text": criteria_text(), **rows}
    checks = {}
    for metric, label in _METRICS:
        cand = [r[f"{metric}_rel"] for r in rows["candidates"] if r[f"{metric}_rel"] is not None]
        ctrl = [abs(r[f"{metric}_rel"]) for r in rows["controls"] if r[f"{metric}_rel"] is not None]
        spread = [r[f"{metric}_rel"] for r in rows["control_features"] if r[f"{metric}_rel"] is not None]
        cand_mean = sum(cand) / len(cand) if cand else None
        ctrl_mean = sum(ctrl) / len(ctrl) if ctrl else None
        checks[metric] = {
            "label": label, "candidates_mean_percent": cand_mean, "controls_mean_abs_percent": ctrl_mean,
            "candidates_reaching_target": sum(v >= target for v in cand), "n_candidates": len(cand),
            "control_features_min_percent": min(spread) if spread else None,
            "control_features_max_percent": max(spread) if spread else None,
            "controls_pass": ctrl_mean is not None and ctrl_mean < limit,
        }
    verdict["checks"] = checks
    n_cand = len(rows["candidates"])
    n_more = sum(r["more_reasoning"] for r in rows["candidates"])
    verdict["n_more_reasoning"], verdict["n_candidates"] = n_more, n_cand
    verdict["reproduced"] = (n_cand > 0 and 2 * n_more >= n_cand and n_more >= 1
                             and all(c["controls_pass"] for c in checks.values()))
    verdict["n_problems"], verdict["min_problems"] = n_problems, min_problems
    if n_problems is not None and n_problems < min_problems:
        verdict["reproduced"] = None
    verdict["text"] = _verdict_text(verdict)
    return verdict


def _gates(entry: dict[str, Any]) -> str:
    failed = [name for key, name in (("gate_noninferior", "accuracy not non-inferior"),
                                     ("gate_finishes", "finishes too rarely"),
                                     ("gate_repetition", "degenerates (repetition)")) if not entry[key]]
    return "passes the gates" if not failed else "fails: " + ", ".join(failed)


def _verdict_text(verdict: dict[str, Any]) -> str:
    parts = []
    for entry in verdict["candidates"]:
        parts.append(f"{entry['condition']}: {_gates(entry)}; length {_pct(entry['thinking_tokens_rel'])}, word rate "
                     f"{_pct(entry['word_rate_rel'])} (finished {_pct_share(entry['finished'])}, capped "
                     f"{_pct_share(entry['capped'])}) → {'more reasoning' if entry['more_reasoning'] else 'not more reasoning'}")
    for c in verdict["checks"].values():
        lo, hi = c["control_features_min_percent"], c["control_features_max_percent"]
        spread = "" if lo is None else f", single control features {_pct(lo)} … {_pct(hi)}"
        parts.append(f"{c['label']}: candidates {_pct(c['candidates_mean_percent'])} on average, random controls "
                     f"{_pct(c['controls_mean_abs_percent'], signed=False)} mean |change|{spread}")
    body = "; ".join(parts) + ". Criteria: " + verdict["criteria_text"]
    if verdict["reproduced"] is None:
        return (f"NO VERDICT: smoke run on {verdict['n_problems']} problems, too few for a verdict (it needs ≥ "
                f"{verdict['min_problems']}; the default sizes give one). " + body)
    head = "REPRODUCED" if verdict["reproduced"] else "NOT REPRODUCED"
    return (f"{head} ({verdict['n_more_reasoning']}/{verdict['n_candidates']} candidates show more reasoning: gates "
            f"passed and ≥ {verdict['target_percent']:g} % in thinking length and word rate; needed: at least half, "
            f"with controls < {verdict['control_limit_percent']:g} %). " + body)


def _pct_share(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f} %"


def _pct(value: float | None, signed: bool = True) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.1f} %" if signed else f"{value:.1f} %"


def table_1(summary: Any) -> str:
    """A compact Markdown table like the paper's Table 1: accuracy, thinking length and word rate (finished
    generations) per condition with relative changes vs the baseline and their 95 % bootstrap intervals,
    the push ρ = ‖Δ‖/mean‖x‖, the finished and capped shares, the repetition quantile and the gates; control
    features indented."""
    from tl_reasoning.evaluation.results import gates_text

    head = ("| condition | accuracy % | Δ acc (pts) [95% CI] | thinking tokens | Δ length % [95% CI] | words/100 tok "
            "| Δ rate % [95% CI] | ρ | finished % | capped % | rep q | gates |")
    lines = [head, "|" + "---|" * 12]
    for _, row in summary.iterrows():
        acc = as_number(row.get("accuracy"))
        dacc, lo_acc, hi_acc = (as_number(row.get(f"accuracy_diff{s}")) for s in ("", "_low", "_high"))
        name = str(row["condition"])
        if row.get("kind") == "control_feature":
            name = "&nbsp;&nbsp;· " + name.rsplit(" · ", 1)[-1]
        cells = [name, _f(acc, 100, ".1f"),
                 "" if dacc is None else f"{dacc * 100:+.1f} [{(lo_acc or 0) * 100:+.1f}, {(hi_acc or 0) * 100:+.1f}]"]
        for metric in ("thinking_tokens", "word_rate"):
            cells.append(_f(as_number(row.get(metric)), 1, ".1f" if metric == "thinking_tokens" else ".2f"))
            rel, lo, hi = (as_number(row.get(f"{metric}_rel{s}")) for s in ("", "_low", "_high"))
            cells.append("" if rel is None else f"{rel:+.1f} [{lo:+.1f}, {hi:+.1f}]")
        cells.append(_f(as_number(row.get("rho")), 1, ".2f"))
        cells.append(_f(as_number(row.get("finished")), 100, ".0f"))
        cells.append(_f(as_number(row.get("capped")), 100, ".0f"))
        cells.append(_f(as_number(row.get("repetition_q")), 1, ".2f"))
        cells.append(gates_text(row))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _f(value: float | None, scale: float, spec: str) -> str:
    return "" if value is None else format(value * scale, spec)


def write_report(report: DemoReport) -> dict[str, Path]:
    """Write ``report.json``, ``table.md`` and the self-contained ``report.html`` into ``report.out``.

    ``report.json`` carries ``claims`` and ``validation`` when the report has them. Two figures are
    drawn for the page here: ``effects.png`` (Table 1's changes with CIs) and, with a validation
    that has a causal part, ``validation.png`` (its dose-response); a figure that cannot be drawn
    (e.g. no steered condition) is left out rather than failing the report.
    """
    from tl_reasoning.demo.report_html import report_html

    out = report.out
    paths = {"json": out / "report.json", "table": out / "table.md", "html": out / "report.html"}
    presence = None
    if report.presence is not None:
        presence = json.loads(report.presence.summary_frame().to_json(orient="records"))
    extra = _page_figures(report)
    data = {
        "config": report.config.to_dict(),
        "candidates": report.candidates,
        "selected": report.scored.selected,
        "top_features": json.loads(report.scored.table.head(20).to_json(orient="records")),
        "summary": json.loads(report.evaluation.summary.to_json(orient="records")),
        "outcome": report.outcome,
        "diffing": presence,
        "timings_s": report.timings,
        "files": {k: _relative(v, out) for k, v in {**report.figures, **extra}.items()},
    }
    if report.claims is not None:
        data["claims"] = report.claims
    if report.validation is not None:
        data["validation"] = (report.validation.to_json() if hasattr(report.validation, "to_json")
                              else report.validation)
    paths["json"].write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    paths["table"].write_text(report.table() + "\n\n" + report.outcome["text"] + "\n", encoding="utf-8")
    paths["html"].write_text(report_html(report, presence, extra), encoding="utf-8")
    return paths


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it, else as given."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def _page_figures(report: DemoReport) -> dict[str, Path]:
    """The report page's own figures (see :func:`write_report`), saved next to it."""
    from tl_reasoning.figures import save_png, steering_effects_plot

    made: dict[str, Path] = {}
    try:
        fig = steering_effects_plot(report.evaluation.summary, target=report.config.target_change,
                                    limit=report.config.control_limit)
        made["effects"] = save_png(fig, report.out / "effects.png")
    except (ValueError, KeyError):
        pass
    plot = getattr(report.validation, "plot", None)
    dose = getattr(report.validation, "dose", None)
    if callable(plot) and dose is not None and not getattr(dose, "empty", True):
        made["validation"] = save_png(plot(), report.out / "validation.png")
    return made
