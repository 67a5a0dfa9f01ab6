"""The summary of an evaluation: one row per condition (and per random control feature) vs the baseline.

Per condition, aggregated per problem first (mean over samples and runs), then over problems:

* ``accuracy`` (pass@1; all generations), ``maj_at_k`` (several samples);
* ``thinking_tokens`` and ``word_rate`` — on **finished** generations only (closed the thinking
  section and gave a parseable answer); a problem without a finished generation has no value;
  ``thinking_tokens_all`` is the mean over all generations (no CI);
* ``finished`` (share of finished generations), ``capped`` (share stopped by the token cap
  without EOS), ``repetition`` (mean per-generation 4-gram repetition rate) and ``repetition_q``
  (its 95th percentile over generations, the degeneration gate's statistic);
* vs the baseline: ``{metric}_diff/_diff_low/_diff_high`` and ``{metric}_rel/_rel_low/_rel_high``
  from :func:`~tl_reasoning.evaluation.bootstrap.paired_bootstrap_runs` on the problems both
  conditions have values for (runs, e.g. control features, resampled together with the problems),
  and the gates of :mod:`tl_reasoning.evaluation.criteria` (``finish_ratio``, ``gate_*``,
  ``passes_gates``).

An averaged random-feature control (kind ``random_features``) gets ``n_controls`` (drawn) and
``n_controls_requested``, and each of its features a row of its own (kind ``control_feature``,
``parent`` = the averaged condition, compared alone with the problems-only bootstrap).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from tl_reasoning.evaluation.bootstrap import BootstrapResult, paired_bootstrap_runs
from tl_reasoning.evaluation.criteria import Criteria, gate_values
from tl_reasoning.evaluation.metrics import maj_at_k, per_problem

__all__ = ["FINISHED_ONLY", "METRICS", "compare_conditions", "problem_values", "run_problem_values", "summarize"]

#: Metrics compared against the baseline: summary column → record column (``maj_at_k`` is a vote).
METRICS: dict[str, str] = {
    "accuracy": "correct",
    "maj_at_k": "correct",
    "thinking_tokens": "thinking_tokens",
    "word_rate": "word_rate",
}
#: Metrics measured on finished generations only.
FINISHED_ONLY = ("thinking_tokens", "word_rate")
_ALIASES = {"thinking_tokens_all": "thinking_tokens"}


def _rows(records: Any, condition: str) -> Any:
    rows = records[records["condition"] == condition]
    if rows.empty:
        known = ", ".join(dict.fromkeys(records["condition"]))
        raise KeyError(f"no condition {condition!r} in this result; conditions: {known}")
    return rows


def _values(rows: Any, metric: str) -> Any:
    """Per-problem series of ``metric`` over ``rows`` (one condition, any runs)."""
    if metric == "maj_at_k":
        return maj_at_k(rows)
    column = _ALIASES.get(metric, METRICS.get(metric, metric))
    if column not in rows.columns:
        raise KeyError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)} or a record column")
    if metric in FINISHED_ONLY and "finished" in rows.columns:
        rows = rows[rows["finished"].astype(bool)]
        if rows.empty:
            import pandas as pd

            return pd.Series(dtype=float)
    return per_problem(rows.assign(**{column: rows[column].astype(float)}), column)


def problem_values(records: Any, condition: str, metric: str) -> Any:
    """Per-problem values (``pandas.Series`` by item id) of ``metric`` under ``condition``."""
    return _values(_rows(records, condition), metric)


def run_problem_values(records: Any, condition: str, metric: str) -> Any:
    """``[runs × problems]`` ``pandas.DataFrame`` of ``metric`` (NaN: no value for that run and problem)."""
    import pandas as pd

    rows = _rows(records, condition)
    runs = rows["run"] if "run" in rows.columns else pd.Series(0, index=rows.index)
    frame = {int(r): _values(rows[runs == r], metric) for r in dict.fromkeys(runs)}
    order = list(dict.fromkeys(rows["item_id"].astype(str)))
    return pd.DataFrame(frame).T.reindex(columns=order).astype(float)


def compare_conditions(records: Any, condition: str, baseline: str, metric: str, *, n_boot: int = 2000,
                       confidence: float = 0.95, seed: int = 0) -> BootstrapResult:
    """Paired bootstrap of ``metric`` under ``condition`` vs ``baseline`` on their common problems
    (problems and runs resampled together)."""
    treated = run_problem_values(records, condition, metric)
    base = problem_values(records, baseline, metric).dropna()
    common = [i for i in base.index if i in treated.columns and treated[i].notna().any()]
    if not common:
        raise ValueError(f"conditions {condition!r} and {baseline!r} share no problems with a value of {metric}")
    return paired_bootstrap_runs(treated[common].to_numpy(), base.loc[common].to_numpy(), n_boot=n_boot,
                                 confidence=confidence, seed=seed)


def _control_rows(records: Any, conditions: Mapping[str, Mapping[str, Any]]) -> tuple[Any, dict[str, Any]]:
    """Records and infos with one extra condition per random control feature."""
    import pandas as pd

    extra, infos = [], {}
    for name, info in conditions.items():
        if info.get("kind") != "random_features":
            continue
        part = records[records["condition"] == name]
        for run, feature in enumerate(info.get("features") or []):
            label = f"{name} · #{feature}"
            extra.append(part[part["run"] == run].assign(condition=label, run=0))
            infos[label] = {"kind": "control_feature", "feature": feature, "strength": info.get("strength"),
                            "mode": info.get("mode"), "parent": name}
    if not extra:
        return records, infos
    return pd.concat([records, *extra], ignore_index=True), infos


def _share(part: Any, column: str) -> float:
    if column not in part.columns:
        return math.nan
    return float(per_problem(part.assign(**{column: part[column].astype(float)}), column).mean())


def summarize(records: Any, conditions: Mapping[str, Mapping[str, Any]], *, baseline: str, n_samples: int,
              n_boot: int = 2000, confidence: float = 0.95, seed: int = 0,
              criteria: Criteria | None = None) -> Any:
    """The summary table (module docstring) of evaluation ``records``."""
    import pandas as pd

    crit = criteria or Criteria()
    metrics = [m for m in METRICS if m != "maj_at_k" or n_samples > 1]
    records, extra = _control_rows(records, conditions)
    plan: dict[str, Mapping[str, Any]] = {}
    for name, info in conditions.items():
        plan[name] = info
        plan.update({k: v for k, v in extra.items() if v["parent"] == name})
    has_base = baseline in set(records["condition"])
    rows = []
    for name, info in plan.items():
        part = records[records["condition"] == name]
        if part.empty:
            continue
        row: dict[str, Any] = {"condition": name, "kind": info.get("kind", ""), "feature": info.get("feature"),
                               "strength": info.get("strength"), "mode": info.get("mode"),
                               "n_problems": int(part["item_id"].nunique()), "n_generations": len(part),
                               "n_runs": int(part["run"].nunique())}
        if info.get("kind") == "control_feature":
            row["parent"] = info["parent"]
        if info.get("kind") == "random_features":
            row["n_controls"] = len(info.get("features") or [])
            row["n_controls_requested"] = info.get("n_requested", row["n_controls"])
        for metric in metrics:
            values = problem_values(records, name, metric)
            row[metric] = float(values.mean()) if len(values) else math.nan
        row["thinking_tokens_all"] = float(problem_values(records, name, "thinking_tokens_all").mean())
        finished_rows = part[part["finished"].astype(bool)] if "finished" in part.columns else part
        row["reasoning_words"] = (float(per_problem(finished_rows, "reasoning_words").mean())
                                  if len(finished_rows) else math.nan)
        row["finished"] = _share(part, "finished")
        row["capped"] = _share(part, "capped")
        rho = part["rho"].astype(float).dropna() if "rho" in part.columns else []
        row["rho"] = float(rho.mean()) if len(rho) else math.nan
        if "repetition" in part.columns:
            rep = part["repetition"].astype(float).to_numpy()
            row["repetition"] = float(rep.mean())
            row["repetition_q"] = float(np.quantile(rep, crit.repetition_quantile))
        else:
            row["repetition"] = row["repetition_q"] = math.nan
        keys = ("diff", "diff_low", "diff_high", "rel", "rel_low", "rel_high")
        for metric in metrics:
            row.update({f"{metric}_{k}": math.nan for k in keys})
            if name == baseline or not has_base:
                continue
            try:
                result = compare_conditions(records, name, baseline, metric, n_boot=n_boot, confidence=confidence,
                                            seed=seed)
            except ValueError:  # no common problem with a value (e.g. nothing finished): no comparison
                continue
            values = (result.diff, result.diff_low, result.diff_high, result.rel_change, result.rel_low,
                      result.rel_high)
            row.update({f"{metric}_{k}": v for k, v in zip(keys, values, strict=True)})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if has_base and not frame.empty:
        base_row = frame[frame["condition"] == baseline].iloc[0].to_dict()
        gates = [({} if r["condition"] == baseline else gate_values(r, base_row, crit))
                 for r in frame.to_dict(orient="records")]
        for column in ("finish_ratio", "repetition_limit", "gate_noninferior", "gate_finishes", "gate_repetition",
                       "passes_gates"):
            values = [g.get(column) for g in gates]
            if column in ("finish_ratio", "repetition_limit"):
                values = [math.nan if v is None else float(v) for v in values]
            frame[column] = values
    return frame
