"""The ``claims`` object of the demo's ``report.json``: the paper's claims on this run, in fixed keys.

Issue 15 fixes the keys so that runs can be compared by machine::

    verdict            "REPRODUCED" / "NOT REPRODUCED" (the outcome check of demo.report)
    candidates         [{feature, rho, delta_thinking_pct, delta_word_rate_pct, delta_accuracy_pts, finished_pct}]
    controls           {n, mean_abs_delta_thinking_pct, mean_abs_delta_word_rate_pct}
    oracle             {delta_thinking_pct, delta_accuracy_pts, finished_pct}   (None without ground truth)
    ground_truth       {n_true, precision, recall, average_precision, baselines: {name: {average_precision}}}

Every value is copied from the measured summary rows or the validation record; nothing is derived
that the tables do not show. Missing measurements are ``None``, never 0.
"""

from __future__ import annotations

from typing import Any

from tl_reasoning.evaluation.criteria import as_number

__all__ = ["build_claims"]


def _num(value: Any, scale: float = 1.0) -> float | None:
    v = as_number(value)
    return None if v is None else round(v * scale, 4)


def _rows(summary: Any, kind: str) -> list[dict[str, Any]]:
    if summary is None or "kind" not in summary.columns:
        return []
    return summary[summary["kind"] == kind].to_dict(orient="records")


def build_claims(summary: Any, outcome: dict[str, Any], validation: dict[str, Any] | None = None,
                 oracle_condition: str | None = None) -> dict[str, Any]:
    """``claims`` from the evaluation ``summary`` frame, the ``outcome`` check and the ``validation`` record.

    ``validation``: :meth:`tl_reasoning.validate.ValidationResult.to_json`, or the short form
    ``{"n_true": N, "selectors": {name: {precision, recall, average_precision}}}``;
    ``oracle_condition``: the summary row of the oracle direction.
    """
    candidates = [{
        "feature": int(row["feature"]) if _num(row.get("feature")) is not None else row.get("feature"),
        "rho": _num(row.get("rho")),
        "delta_thinking_pct": _num(row.get("thinking_tokens_rel")),
        "delta_word_rate_pct": _num(row.get("word_rate_rel")),
        "delta_accuracy_pts": _num(row.get("accuracy_diff"), 100.0),
        "finished_pct": _num(row.get("finished"), 100.0),
    } for row in _rows(summary, "steering") if row.get("condition") != oracle_condition]
    checks = outcome.get("checks", {})
    controls = {
        "n": len(_rows(summary, "control_feature")),
        "mean_abs_delta_thinking_pct": _num(checks.get("thinking_tokens", {}).get("controls_mean_abs_percent")),
        "mean_abs_delta_word_rate_pct": _num(checks.get("word_rate", {}).get("controls_mean_abs_percent")),
    }
    oracle = None
    if oracle_condition is not None and summary is not None:
        match = summary[summary["condition"] == oracle_condition].to_dict(orient="records")
        if match:
            row = match[0]
            oracle = {"delta_thinking_pct": _num(row.get("thinking_tokens_rel")),
                      "delta_accuracy_pts": _num(row.get("accuracy_diff"), 100.0),
                      "finished_pct": _num(row.get("finished"), 100.0),
                      "delta_word_rate_pct": _num(row.get("word_rate_rel")), "rho": _num(row.get("rho"))}
    ground_truth = None
    if validation and "selection" in validation:  # a ValidationResult.to_json()
        validation = {"n_true": validation.get("meta", {}).get("n_ground_truth"),
                      "selectors": {row["selector"]: row for row in validation["selection"]}}
    if validation:
        selectors = validation.get("selectors", {})
        main = selectors.get("reason_score", {})
        ground_truth = {
            "n_true": validation.get("n_true"),
            "precision": _num(main.get("precision")),
            "recall": _num(main.get("recall")),
            "average_precision": _num(main.get("average_precision")),
            "mean_auc_hard": _num(main.get("mean_auc_hard")),
            "baselines": {name: {"average_precision": _num(v.get("average_precision")),
                                 "mean_auc_hard": _num(v.get("mean_auc_hard"))}
                          for name, v in selectors.items() if name != "reason_score"},
        }
    reproduced = outcome.get("reproduced")
    claims: dict[str, Any] = {
        "verdict": "REPRODUCED" if reproduced else "NOT REPRODUCED",
        "candidates": candidates,
        "controls": controls,
        "oracle": oracle,
        "ground_truth": ground_truth,
    }
    if reproduced is None:
        claims["no_verdict_reason"] = outcome.get("text", "smoke run: too few problems for a verdict")
    return claims
