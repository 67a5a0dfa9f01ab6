"""The demo's ``report.html``: one self-contained page a researcher can read top to bottom.

Order: setup, verdict (and the ``claims`` when the pipeline filled them), Table 1 as an HTML table
with the forest plot of its changes, the dose-response over strength (measured points only), the
word-ban table, the validation against the planted ground truth, the top features, diffing per
stage, example generations (baseline, candidates, controls, bans; reasoning words highlighted,
text wrapped) and timings. Figures are inlined PNGs; no network is needed to open it.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

from tl_reasoning.demo.report_tables import (
    claims_html,
    fmt,
    html_table,
    presence_html,
    table_1_html,
    validation_html,
    word_ban_html,
)
from tl_reasoning.views import esc

__all__ = ["examples_html", "marked_text", "report_html"]

_STYLE = """<style>
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; max-width: 1180px; margin: 2em auto;
  color: #222; line-height: 1.45; padding: 0 1em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 2px; margin-top: 1.8em; }
div.tw { overflow-x: auto; max-width: 100%; }
table.t { border-collapse: collapse; font-size: 13px; margin: 6px 0 10px 0; }
.t td, .t th { padding: 3px 8px; border-bottom: 1px solid #e3e3e3; text-align: right; }
.t td:first-child { white-space: nowrap; }
.t td:first-child, .t th:first-child { text-align: left; }
.t thead th { background: #f3f3f3; position: sticky; top: 0; }
.t caption { caption-side: bottom; font-size: 12px; color: #666; text-align: left; }
.t tr.baseline td { font-weight: 600; background: #fafafa; }
.t tr.random_features td, .t tr.random_word_ban td { color: #555; }
.ci { color: #777; font-size: 12px; white-space: nowrap; display: inline-block; } .up { color: #1a7f37; } .down { color: #b42318; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 12px; }
pre.gen { white-space: pre-wrap; word-break: break-word; overflow-x: visible; max-height: 28em; overflow-y: auto; }
mark { background: #ffe08a; padding: 0 1px; }
img { max-width: 100%; } .ok { color: #1a7f37; } .no { color: #b35900; }
details { margin: 4px 0; } summary { cursor: pointer; }
.note { color: #555; font-size: 13px; }
</style>"""


def _img(path: Path | None, alt: str = "") -> str:
    if path is None or not Path(path).is_file():
        return ""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{esc(alt or Path(path).stem)}" src="data:image/png;base64,{data}">'


def marked_text(text: str, words: list[str] | None = None) -> str:
    """``text`` escaped, with every reasoning word (whole word, any case) in a ``<mark>``."""
    from tl_reasoning.steering.display import _pattern, reasoning_words

    words = reasoning_words() if words is None else words
    if not words:
        return esc(text)
    pattern: re.Pattern[str] = _pattern(words)
    out, last = [], 0
    for match in pattern.finditer(text):
        out.append(esc(text[last:match.start()]))
        out.append(f"<mark>{esc(match.group(0))}</mark>")
        last = match.end()
    out.append(esc(text[last:]))
    return "".join(out)


def examples_html(evaluation: Any, *, n_items: int = 2, words: list[str] | None = None) -> str:
    """Example generations: for ``n_items`` problems, one generation per condition (first run and
    sample; controls and random bans show their first control), baseline open, others folded."""
    records = evaluation.records
    if "text" not in getattr(records, "columns", ()) or len(records) == 0:
        return "<p>No generations recorded.</p>"
    items = list(dict.fromkeys(records["item_id"]))[:n_items]
    prompts = {str(getattr(i, "id", getattr(i, "item_id", ""))): i for i in (getattr(evaluation, "items", None) or [])}
    parts = []
    for item in items:
        rows = records[records["item_id"] == item]
        first = rows.sort_values(["run", "sample"] if "sample" in rows.columns else ["run"]).drop_duplicates("condition")
        gold = first["gold"].iloc[0] if "gold" in first.columns else ""
        prompt = getattr(prompts.get(str(item)), "prompt", None)
        head = f"<h3>Problem {esc(item)} <span class='note'>(gold answer {esc(gold)})</span></h3>"
        if prompt:
            head += f"<pre class='gen'>{esc(prompt)}</pre>"
        blocks = []
        for _, row in first.iterrows():
            ok = row.get("correct")
            verdict = "✓ correct" if ok is True or ok == 1 else "✗ wrong" if ok is False or ok == 0 else ""
            answer = row.get("extracted")
            answer = "none" if answer is None or (isinstance(answer, float) and answer != answer) else answer
            facts = (f"{verdict} · answer {esc(answer)} · {fmt(row.get('thinking_tokens'), '.0f')} "
                     f"thinking tokens · {fmt(row.get('reasoning_words'), '.0f')} reasoning words"
                     + (" · capped" if bool(row.get("capped")) else ""))
            is_base = str(row["condition"]) == str(getattr(evaluation, "baseline", "baseline"))
            blocks.append(f"<details{' open' if is_base else ''}><summary><b>{esc(row['condition'])}</b> — "
                          f"{facts}</summary><pre class='gen'>{marked_text(str(row['text']), words)}</pre></details>")
        parts.append(head + "".join(blocks))
    return "\n".join(parts)


def _top_features(report: Any) -> str:
    table = report.scored.table.head(12)
    columns = [c for c in ("feature", "reason_score", "top_word", "entropy", "mean_reasoning", "mean_other",
                           "max_activation") if c in table.columns]
    body = [[fmt(r[c], ".4g") if isinstance(r[c], float) else str(r[c]) for c in columns]
            for r in table.to_dict(orient="records")]
    return html_table(columns, body, css="t top")


def _diffing(report: Any, presence: list[dict[str, Any]] | None) -> str:
    if presence is None:
        return "<p>Skipped (no base SAE).</p>"
    return presence_html(presence) + _img(report.figures.get("diffing"), "diffing presence per stage")


def report_html(report: Any, presence: list[dict[str, Any]] | None, extra_figures: dict[str, Path] | None = None) -> str:
    """The whole page for a :class:`~tl_reasoning.demo.report.DemoReport` (``presence``: the diffing
    summary rows; ``extra_figures``: figures drawn for the page, e.g. ``effects``, ``validation``)."""
    cfg = report.config
    figs = {**report.figures, **(extra_figures or {})}
    outcome = report.outcome
    verdict_class = {True: "ok", False: "no"}.get(outcome.get("reproduced"), "")
    summary = report.evaluation.summary
    sampling = (f"sampled (T {cfg.temperature:g}, top-p {cfg.top_p:g}, {cfg.samples} sample(s))"
                if cfg.samples > 1 or cfg.temperature > 0 else "greedy")
    claims = getattr(report, "claims", None)
    validation = getattr(report, "validation", None)
    sections = [
        f"<h1>Reasoning features of <code>{esc(cfg.model)}</code></h1>",
        f"<p>SAE <code>{esc(cfg.sae)}</code>; ReasonScore over {cfg.score_docs} documents of <code>{esc(cfg.data)}"
        f"</code>; steering mode <code>{esc(cfg.mode)}</code> at γ = {cfg.strength:g} on positions "
        f"<code>{esc(cfg.positions)}</code>; {cfg.problems} problems of <code>{esc(cfg.benchmark)}</code>, "
        f"{esc(sampling)}, at most {cfg.max_new_tokens} new tokens. <a href='dashboard.html'>Feature dashboard</a>"
        " · folders <code>scores/</code>, <code>evaluation/</code>, <code>diffing/</code>.</p>",
        "<h2>Verdict</h2>",
        (claims_html(claims) if claims else ""),
        f"<p class='{verdict_class}'>{esc(outcome.get('text', ''))}</p>",
        f"<p class='note'><b>Criteria (fixed before the run).</b> {esc(outcome.get('criteria_text', ''))} Controls: "
        "random features matched on activation frequency and on push size γ·f_max·‖d_j‖ (within "
        f"±{cfg.push_tolerance:.0%} of the candidate's), {cfg.random_per_feature} per candidate; their CIs "
        "resample problems and control features together.</p>",
        "<h2>Table 1: steering vs baseline and controls</h2>",
        "<p class='note'>Thinking length and word rate on finished generations; changes relative to the baseline "
        "with 95 % paired-bootstrap intervals (green/red: the interval excludes 0); ρ = ‖Δ‖/mean‖x‖ measured while "
        "generating; gates: non-inferior accuracy, finishes, no degeneration.</p>",
        table_1_html(summary),
        _img(figs.get("effects"), "changes per condition with 95% CIs"),
        "<h3>Over steering strength</h3><p class='note'>Measured strengths only (markers with 95 % CIs; "
        "nothing is drawn between them).</p>",
        _img(figs.get("steering"), "steering results over strength"),
        "<h2>Word ban: reasoning words vs as many random words</h2>",
        word_ban_html(summary),
    ]
    if validation is not None:
        sections += ["<h2>Validation against the planted ground truth</h2>", validation_html(validation),
                     _img(figs.get("validation"), "dose-response")]
    sections += [
        "<h2>Top features by ReasonScore</h2>", _top_features(report), _img(figs.get("scores"), "ReasonScore"),
        "<h2>Model diffing: are the candidates present at each stage?</h2>", _diffing(report, presence),
        "<h2>Example generations</h2><p class='note'>One generation per condition (controls: their first random "
        "feature or word set); reasoning words highlighted.</p>",
        examples_html(report.evaluation),
        "<h2>Timings (s)</h2>",
        html_table(list(report.timings), [[fmt(v, ".1f") for v in report.timings.values()]], css="t timings")
        if report.timings else "",
    ]
    title = f"tl-reasoning demo: {cfg.model}"
    return ("<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{esc(title)}</title>\n{_STYLE}</head><body>\n" + "\n".join(s for s in sections if s)
            + "\n</body></html>\n")

