"""The demo report's HTML tables: Table 1, the word-ban table, diffing per stage, validation, claims.

Every table is a real ``<table>`` (sortable by eye, copyable into a spreadsheet), every text cell
is escaped with :func:`tl_reasoning.views.esc`; only the cells built here from numbers (a value with
its confidence interval in a ``<span class='ci'>``) are trusted markup (:class:`Html`). A change
whose interval excludes 0 is marked (class ``up``/``down``) so significant effects stand out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tl_reasoning.evaluation.criteria import as_number
from tl_reasoning.views import esc

__all__ = ["Html", "claims_html", "html_table", "presence_html", "table_1_html", "validation_html",
           "word_ban_html"]

#: Summary kinds left out of Table 1's main rows: word bans have their own table, control features fold.
NOT_IN_TABLE_1 = ("word_ban", "random_word_ban", "control_feature")
WORD_BAN_KINDS = ("baseline", "word_ban", "random_word_ban")


class Html(str):
    """A cell that is already safe markup (built here from numbers), inserted without escaping."""


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, row_classes: Sequence[str] | None = None,
               caption: str | None = None, css: str = "t") -> str:
    """An HTML table (in a ``div.tw`` that scrolls sideways when wide); text cells are escaped,
    :class:`Html` cells inserted as they are."""
    def cell(value: Any, tag: str) -> str:
        text = value if isinstance(value, Html) else esc("" if value is None else value)
        return f"<{tag}>{text}</{tag}>"

    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    head = "<thead><tr>" + "".join(cell(h, "th") for h in header) + "</tr></thead>"
    body = []
    for i, row in enumerate(rows):
        cls = row_classes[i] if row_classes is not None and row_classes[i] else ""
        attr = f" class='{esc(cls)}'" if cls else ""
        body.append(f"<tr{attr}>" + "".join(cell(c, "td") for c in row) + "</tr>")
    return f"<div class='tw'><table class='{esc(css)}'>{cap}{head}<tbody>{''.join(body)}</tbody></table></div>"


num = as_number  # a finite float, else None (NaN, None, text)


def fmt(value: Any, spec: str = ".2f", scale: float = 1.0) -> str:
    """A number formatted with ``spec`` after scaling; ``""`` when missing."""
    x = num(value)
    return "" if x is None else format(x * scale, spec)


def ci_cell(mid: Any, low: Any, high: Any, *, scale: float = 1.0, spec: str = "+.1f", mark: bool = True) -> Html | str:
    """``+30.0 [+25.0, +35.0]``: the value and its interval; a change (``mark``) is marked when its
    interval excludes 0."""
    m, lo, hi = num(mid), num(low), num(high)
    if m is None:
        return ""
    text = esc(format(m * scale, spec))
    cls = ""
    if lo is not None and hi is not None:
        text += f" <span class='ci'>[{esc(format(lo * scale, spec))}, {esc(format(hi * scale, spec))}]</span>"
        cls = ("up" if lo > 0 else "down" if hi < 0 else "") if mark else ""
    return Html(f"<span class='{cls}'>{text}</span>" if cls else text)


def _row_ci(row: Mapping[str, Any], column: str, scale: float = 1.0) -> Html | str:
    return ci_cell(row.get(column), row.get(f"{column}_low"), row.get(f"{column}_high"), scale=scale)


def _gates(row: Mapping[str, Any]) -> str:
    from tl_reasoning.evaluation.results import gates_text

    return gates_text(row)


_T1_HEADER = ("condition", "problems", "accuracy %", "Δ accuracy (pts) [95% CI]", "thinking tokens",
              "Δ length % [95% CI]", "words / 100 tok", "Δ word rate % [95% CI]", "ρ", "finished %", "capped %",
              "rep q", "gates")


def _t1_row(row: Mapping[str, Any]) -> list[Any]:
    name = str(row["condition"])
    if row.get("kind") == "control_feature":
        name = "· " + name.rsplit(" · ", 1)[-1]
    return [name, fmt(row.get("n_problems"), ".0f"), fmt(row.get("accuracy"), ".1f", 100),
            _row_ci(row, "accuracy_diff", 100), fmt(row.get("thinking_tokens"), ".1f"),
            _row_ci(row, "thinking_tokens_rel"), fmt(row.get("word_rate"), ".2f"), _row_ci(row, "word_rate_rel"),
            fmt(row.get("rho"), ".2f"), fmt(row.get("finished"), ".0f", 100), fmt(row.get("capped"), ".0f", 100),
            fmt(row.get("repetition_q"), ".2f"), _gates(row)]


def _records(summary: Any) -> list[dict[str, Any]]:
    return list(summary.to_dict(orient="records")) if hasattr(summary, "to_dict") else list(summary)


def table_1_html(summary: Any) -> str:
    """Table 1 (baseline, steered candidates, averaged random controls, any other steering such as an
    oracle direction) and, folded below it, one row per random control feature (their spread)."""
    rows = _records(summary)
    main = [r for r in rows if r.get("kind", "baseline") not in NOT_IN_TABLE_1]
    classes = [str(r.get("kind", "")) for r in main]
    out = html_table(_T1_HEADER, [_t1_row(r) for r in main], row_classes=classes, css="t t1")
    controls = [r for r in rows if r.get("kind") == "control_feature"]
    if controls:
        parents = [str(r.get("parent") or str(r["condition"]).rsplit(" · ", 1)[0]) for r in controls]
        body = [[p, *_t1_row(r)] for p, r in zip(parents, controls, strict=True)]
        out += (f"<details><summary>each of the {len(controls)} random control features (their spread)</summary>"
                + html_table(("control of", *_T1_HEADER), body, css="t t1 controls") + "</details>")
    return out


def word_ban_html(summary: Any) -> str:
    """The paper's word-ban table: baseline, reasoning words banned, as many random words banned."""
    rows = [r for r in _records(summary) if r.get("kind") in WORD_BAN_KINDS]
    if not any(r.get("kind") != "baseline" for r in rows):
        return "<p>No word ban in this run.</p>"
    header = ("condition", "accuracy %", "Δ accuracy (pts) [95% CI]", "thinking tokens", "Δ length % [95% CI]",
              "reasoning words", "words / 100 tok", "Δ word rate % [95% CI]", "finished %", "gates")
    body = [[str(r["condition"]), fmt(r.get("accuracy"), ".1f", 100), _row_ci(r, "accuracy_diff", 100),
             fmt(r.get("thinking_tokens"), ".1f"), _row_ci(r, "thinking_tokens_rel"),
             fmt(r.get("reasoning_words"), ".0f"), fmt(r.get("word_rate"), ".2f"), _row_ci(r, "word_rate_rel"),
             fmt(r.get("finished"), ".0f", 100), _gates(r)] for r in rows]
    return html_table(header, body, row_classes=[str(r.get("kind", "")) for r in rows], css="t wordban")


def presence_html(records: Sequence[Mapping[str, Any]]) -> str:
    """Diffing presence per stage (paper Fig. 4's numbers): candidates vs frequency-matched random."""
    header = ("source → target", "candidates present", "share [95% CI]", "random present", "random share [95% CI]",
              "difference [95% CI]", "p", "median cos cand / rnd")
    body = []
    for r in records:
        body.append([f"{r.get('source', '')} → {r.get('target', '')}",
                     f"{fmt(r.get('present_candidates'), '.0f')}/{fmt(r.get('n_candidates'), '.0f')}",
                     ci_cell(r.get("fraction_candidates"), r.get("ci_low"), r.get("ci_high"), scale=100, spec=".0f",
                             mark=False),
                     f"{fmt(r.get('present_random'), '.0f')}/{fmt(r.get('n_random'), '.0f')}",
                     ci_cell(r.get("fraction_random"), r.get("random_ci_low"), r.get("random_ci_high"), scale=100,
                             spec=".1f", mark=False),
                     ci_cell(r.get("difference"), r.get("difference_ci_low"), r.get("difference_ci_high"),
                             scale=100, spec="+.1f"),
                     fmt(r.get("p_value"), ".3g"),
                     f"{fmt(r.get('median_cosine_candidates'), '.2f')} / {fmt(r.get('median_cosine_random'), '.2f')}"])
    return html_table(header, body, css="t presence", caption="shares in %; present = best cosine ≥ threshold")


def _frame_rows(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if hasattr(value, "to_dict") and hasattr(value, "columns"):
        return list(value.to_dict(orient="records"))
    if isinstance(value, Mapping):
        return [{"selector": k, **dict(v)} for k, v in value.items()]
    return [dict(r) for r in value]


def validation_html(validation: Any) -> str:
    """The selector table (precision, recall, average precision against the planted ground truth)
    and the dose-response table of a :class:`~tl_reasoning.validate.ValidationResult` (or of its
    ``to_json()``: ``selection`` and ``dose_response`` row lists)."""
    if isinstance(validation, Mapping):
        selection, dose = validation.get("selection"), validation.get("dose_response")
        meta = validation.get("meta") or {}
    else:
        selection, dose = getattr(validation, "selection", None), getattr(validation, "dose", None)
        meta = getattr(validation, "meta", None) or {}
    parts = []
    rows = _frame_rows(selection)
    if rows:
        body = [[str(r.get("selector", "")), fmt(r.get("n_selected"), ".0f"), fmt(r.get("n_true_selected"), ".0f"),
                 fmt(r.get("precision"), ".3f"), fmt(r.get("recall"), ".3f"), fmt(r.get("average_precision"), ".3f")]
                for r in rows]
        caption = (f"{meta.get('n_ground_truth', '?')} ground-truth features; chance precision "
                   f"{fmt(meta.get('chance_precision'), '.3f') or '?'}") if meta else None
        parts.append(html_table(("selector", "n selected", "true among them", "precision", "recall",
                                 "average precision"), body, css="t validation", caption=caption))
    dose_rows = _frame_rows(dose)
    if dose_rows:
        body = [[str(r.get("group", "")), fmt(r.get("rho"), "g"), str(r.get("positions", "")),
                 fmt(r.get("n_runs"), ".0f"), fmt(r.get("measured_rho"), ".3f"), fmt(r.get("finished"), ".0f", 100),
                 _row_ci(r, "thinking_tokens_rel"), _row_ci(r, "word_rate_rel"), _row_ci(r, "accuracy_diff", 100)]
                for r in dose_rows]
        parts.append(html_table(("condition", "ρ", "positions", "runs", "ρ measured", "finished %",
                                 "Δ thinking length % [CI]", "Δ word rate % [CI]", "Δ accuracy pts [CI]"),
                                body, css="t dose", caption="dose-response vs the unsteered baseline"))
    return "".join(parts) or "<p>No validation results.</p>"


def claims_html(claims: Mapping[str, Any]) -> str:
    """The ``claims`` object of ``report.json`` as tables: verdict, candidates, controls, oracle,
    ground truth with the other selectors' average precision."""
    verdict = str(claims.get("verdict", "?"))
    cls = "ok" if verdict == "REPRODUCED" else "no"
    parts = [f"<p class='verdict {cls}'><b>{esc(verdict)}</b></p>"]
    cands = claims.get("candidates") or []
    if cands:
        body = [[str(c.get("feature", "")), fmt(c.get("rho"), "g"), fmt(c.get("delta_thinking_pct"), "+.1f"),
                 fmt(c.get("delta_word_rate_pct"), "+.1f"), fmt(c.get("delta_accuracy_pts"), "+.1f"),
                 fmt(c.get("finished_pct"), ".0f")] for c in cands]
        parts.append(html_table(("candidate feature", "ρ", "Δ thinking %", "Δ word rate %", "Δ accuracy pts",
                                 "finished %"), body, css="t claims"))
    rows = []
    controls = claims.get("controls") or {}
    if controls:
        rows.append([f"random controls (n = {controls.get('n', '?')})",
                     fmt(controls.get("mean_abs_delta_thinking_pct"), ".1f") + " (mean |Δ|)",
                     fmt(controls.get("mean_abs_delta_word_rate_pct"), ".1f") + " (mean |Δ|)", "", ""])
    oracle = claims.get("oracle") or {}
    if oracle:
        rows.append(["oracle direction", fmt(oracle.get("delta_thinking_pct"), "+.1f"), "",
                     fmt(oracle.get("delta_accuracy_pts"), "+.1f"), fmt(oracle.get("finished_pct"), ".0f")])
    if rows:
        parts.append(html_table(("reference", "Δ thinking %", "Δ word rate %", "Δ accuracy pts", "finished %"),
                                rows, css="t claims-ref"))
    truth = claims.get("ground_truth") or {}
    if truth:
        body = [["ReasonScore", fmt(truth.get("precision"), ".3f"), fmt(truth.get("recall"), ".3f"),
                 fmt(truth.get("average_precision"), ".3f")]]
        for name, value in (truth.get("baselines") or {}).items():
            body.append([str(name), "", "", fmt((value or {}).get("average_precision"), ".3f")])
        parts.append(html_table(("selector", "precision", "recall", "average precision"), body, css="t claims-gt",
                                caption=f"{truth.get('n_true', '?')} planted ground-truth features"))
    return "".join(parts)
