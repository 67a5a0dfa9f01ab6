"""The demo's report: the Table-1-like summary, the outcome check, ``report.json/.html`` and ``table.md``."""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tl_reasoning.demo.config import DemoConfig

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

    def table(self) -> str:
        """The summary table as text (one row per condition)."""
        return table_1(self.evaluation.summary)


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def outcome_check(summary: Any, *, target: float = 20.0, limit: float = 5.0, n_problems: int | None = None,
                  min_problems: int = 0) -> dict[str, Any]:
    """Does steering the candidates raise thinking length and word rate by ≥ ``target`` % while
    the frequency-matched random features move them by < ``limit`` %? (issue #7's expected outcome)

    Per candidate and per control the relative changes (%) vs the baseline; the verdict uses the
    mean over candidates and the mean absolute change over the controls. With ``n_problems`` below
    ``min_problems`` (a smoke run) there is no verdict: ``reproduced`` is ``None`` and the text says so.
    """
    steered = summary[summary["kind"] == "steering"]
    random = summary[summary["kind"] == "random_features"]
    rows: dict[str, list[dict[str, Any]]] = {"candidates": [], "controls": []}
    for group, part in (("candidates", steered), ("controls", random)):
        for _, row in part.iterrows():
            entry = {"condition": row["condition"], "feature": str(row["feature"]),
                     "accuracy": _num(row.get("accuracy")), "accuracy_diff": _num(row.get("accuracy_diff"))}
            for metric, _ in _METRICS:
                entry[f"{metric}_rel"] = _num(row.get(f"{metric}_rel"))
                entry[f"{metric}_rel_low"] = _num(row.get(f"{metric}_rel_low"))
                entry[f"{metric}_rel_high"] = _num(row.get(f"{metric}_rel_high"))
            rows[group].append(entry)
    verdict: dict[str, Any] = {"target_percent": target, "control_limit_percent": limit, **rows}
    checks = {}
    for metric, label in _METRICS:
        cand = [r[f"{metric}_rel"] for r in rows["candidates"] if r[f"{metric}_rel"] is not None]
        ctrl = [abs(r[f"{metric}_rel"]) for r in rows["controls"] if r[f"{metric}_rel"] is not None]
        cand_mean = sum(cand) / len(cand) if cand else None
        ctrl_mean = sum(ctrl) / len(ctrl) if ctrl else None
        checks[metric] = {
            "label": label, "candidates_mean_percent": cand_mean, "controls_mean_abs_percent": ctrl_mean,
            "candidates_reaching_target": sum(v >= target for v in cand), "n_candidates": len(cand),
            "candidates_pass": cand_mean is not None and cand_mean >= target,
            "controls_pass": ctrl_mean is not None and ctrl_mean < limit,
        }
    verdict["checks"] = checks
    verdict["reproduced"] = bool(checks) and all(c["candidates_pass"] and c["controls_pass"] for c in checks.values())
    verdict["n_problems"], verdict["min_problems"] = n_problems, min_problems
    if n_problems is not None and n_problems < min_problems:
        verdict["reproduced"] = None
    verdict["text"] = _verdict_text(verdict)
    return verdict


def _verdict_text(verdict: dict[str, Any]) -> str:
    parts = []
    for c in verdict["checks"].values():
        cand, ctrl = c["candidates_mean_percent"], c["controls_mean_abs_percent"]
        parts.append(f"{c['label']}: candidates {_pct(cand)} on average ({c['candidates_reaching_target']}/"
                     f"{c['n_candidates']} ≥ {verdict['target_percent']:g} %), random controls {_pct(ctrl, signed=False)}"
                     " mean |change|")
    if verdict["reproduced"] is None:
        return (f"NO VERDICT: smoke run on {verdict['n_problems']} problems, too few for a verdict (it needs ≥ "
                f"{verdict['min_problems']}; the default sizes give one). " + "; ".join(parts) + ".")
    head = "REPRODUCED" if verdict["reproduced"] else "NOT REPRODUCED"
    return f"{head} (target: ≥ {verdict['target_percent']:g} % for candidates, < {verdict['control_limit_percent']:g} %" \
           f" for controls). " + "; ".join(parts) + "."


def _pct(value: float | None, signed: bool = True) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.1f} %" if signed else f"{value:.1f} %"


def table_1(summary: Any) -> str:
    """A compact Markdown table like the paper's Table 1: accuracy, thinking length and word rate per
    condition, with relative changes vs the baseline and their 95 % bootstrap intervals."""
    head = ("| condition | accuracy % | Δ acc (pts) | thinking tokens | Δ length % [95% CI] | words/100 tok "
            "| Δ rate % [95% CI] | finished % |")
    lines = [head, "|" + "---|" * 8]
    for _, row in summary.iterrows():
        acc, dacc = _num(row.get("accuracy")), _num(row.get("accuracy_diff"))
        cells = [str(row["condition"]), _f(acc, 100, ".1f"), "" if dacc is None else f"{dacc * 100:+.1f}"]
        for metric in ("thinking_tokens", "word_rate"):
            cells.append(_f(_num(row.get(metric)), 1, ".1f" if metric == "thinking_tokens" else ".2f"))
            rel, lo, hi = (_num(row.get(f"{metric}_rel{s}")) for s in ("", "_low", "_high"))
            cells.append("" if rel is None else f"{rel:+.1f} [{lo:+.1f}, {hi:+.1f}]")
        cells.append(_f(_num(row.get("finished")), 100, ".0f"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _f(value: float | None, scale: float, spec: str) -> str:
    return "" if value is None else format(value * scale, spec)


def write_report(report: DemoReport) -> dict[str, Path]:
    """Write ``report.json``, ``table.md`` and the self-contained ``report.html`` into ``report.out``."""
    out = report.out
    paths = {"json": out / "report.json", "table": out / "table.md", "html": out / "report.html"}
    presence = None
    if report.presence is not None:
        presence = json.loads(report.presence.summary_frame().to_json(orient="records"))
    data = {
        "config": report.config.to_dict(),
        "candidates": report.candidates,
        "selected": report.scored.selected,
        "top_features": json.loads(report.scored.table.head(20).to_json(orient="records")),
        "summary": json.loads(report.evaluation.summary.to_json(orient="records")),
        "outcome": report.outcome,
        "diffing": presence,
        "timings_s": report.timings,
        "files": {k: str(v.relative_to(out)) for k, v in report.figures.items()},
    }
    paths["json"].write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    paths["table"].write_text(report.table() + "\n\n" + report.outcome["text"] + "\n", encoding="utf-8")
    paths["html"].write_text(_html(report, presence), encoding="utf-8")
    return paths


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _frame_html(frame: Any, columns: list[str] | None = None) -> str:
    part = frame if columns is None else frame[[c for c in columns if c in frame.columns]]
    return part.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, classes="t")


def _html(report: DemoReport, presence: list[dict[str, Any]] | None) -> str:
    cfg = report.config
    esc = html.escape
    top = _frame_html(report.scored.table.head(12), ["feature", "reason_score", "top_word", "entropy",
                                                      "mean_reasoning", "mean_other", "max_activation"])
    examples = _examples(report)
    diff_html = "<p>skipped (no base SAE)</p>"
    if report.presence is not None:
        diff_html = f"<pre>{esc(report.presence.summary())}</pre>"
        if "diffing" in report.figures:
            diff_html += _img(report.figures["diffing"])
    verdict_class = {True: "ok", False: "no"}.get(report.outcome["reproduced"], "")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>tl-reasoning demo: {esc(cfg.model)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table.t {{ border-collapse: collapse; font-size: 13px; }} .t td, .t th {{ padding: 3px 8px; border-bottom: 1px solid #ddd; }}
pre {{ background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 12px; }}
img {{ max-width: 100%; }} .ok {{ color: #1a7f37; }} .no {{ color: #b35900; }}
</style></head><body>
<h1>Reasoning features of <code>{esc(cfg.model)}</code></h1>
<p>SAE <code>{esc(cfg.sae)}</code>; ReasonScore over {cfg.score_docs} documents of <code>{esc(cfg.data)}</code>;
steering mode <code>{esc(cfg.mode)}</code> at γ = {cfg.strength:g} on positions <code>{esc(cfg.positions)}</code>,
{cfg.problems} problems of <code>{esc(cfg.benchmark)}</code>, greedy, at most {cfg.max_new_tokens} new tokens.
<a href="dashboard.html">Feature dashboard</a> · folders <code>scores/</code>, <code>evaluation/</code>,
<code>diffing/</code>.</p>
<h2>Outcome</h2><p class="{verdict_class}">{esc(report.outcome["text"])}</p>
<h2>Table 1: steering vs baseline and controls</h2>
<pre>{esc(report.table())}</pre>
{_img(report.figures["steering"])}
<h2>Top features by ReasonScore</h2>{top}{_img(report.figures["scores"])}
<h2>Model diffing</h2>{diff_html}
<h2>Example generations</h2>{examples}
<h2>Timings (s)</h2><pre>{esc(json.dumps(report.timings))}</pre>
</body></html>
"""


def _examples(report: DemoReport, n: int = 2) -> str:
    records = report.evaluation.records
    if "text" not in records.columns:
        return ""
    first = records["item_id"].iloc[0] if len(records) else None
    rows = records[(records["item_id"] == first) & (records["run"] == 0)]
    out = []
    for _, row in rows.head(2 + n).iterrows():
        out.append(f"<h3>{html.escape(str(row['condition']))}</h3><pre>{html.escape(str(row['text']))}</pre>")
    return "\n".join(out)
