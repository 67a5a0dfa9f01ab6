"""The result of an evaluation: per-generation records, a summary per condition, save and load.

The summary (:mod:`tl_reasoning.evaluation.summary`) has one row per condition — and one per
random control feature (kind ``control_feature``) — with accuracy, thinking length and word rate
(finished generations), finish and cap shares, repetition, changes vs the baseline with
paired-bootstrap CIs and the protocol's gates (:mod:`tl_reasoning.evaluation.criteria`). A result folder holds ``summary.csv``/``summary.json``, ``records.csv`` (one row per
generation, no text), ``generations.jsonl`` (the same rows with text and token ids),
``items.jsonl``, ``config.json`` and ``table.txt``; :meth:`EvaluationResult.load` reads it back.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tl_reasoning.evaluation.benchmarks import EvalItem
from tl_reasoning.evaluation.bootstrap import BootstrapResult
from tl_reasoning.evaluation.summary import METRICS, compare_conditions, problem_values, summarize

__all__ = [
    "METRICS",
    "EvaluationResult",
    "compare_conditions",
    "format_table",
    "gates_text",
    "problem_values",
    "summarize",
]

_TEXT_COLUMNS = ("text", "tokens", "word_counts")


def _fmt(value: Any, spec: str) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def format_table(summary: Any, *, n_samples: int = 1, confidence: float = 0.95) -> str:
    """The summary as a plain-text table like the paper's Table 1 (accuracy in %, changes with CIs).

    Thinking length and word rate are on finished generations; ``ρ`` the push ‖Δ‖/mean‖x‖ at the
    steered site (measured on the condition's own tokens); ``fin %`` / ``cap %`` are the shares
    of finished and capped generations, ``rep q`` the repetition quantile, ``gates`` the protocol's
    three gates (``ok`` or the failed ones: ``acc``, ``fin``, ``rep``). Control-feature rows are
    indented under their averaged row.
    """
    ci = f"{confidence:.0%} CI"
    metrics = [("accuracy", "acc %", 100.0, "points")]
    if n_samples > 1 and "maj_at_k" in summary.columns:
        metrics.append(("maj_at_k", f"maj@{n_samples} %", 100.0, "points"))
    metrics += [("thinking_tokens", "think tok", 1.0, "rel"), ("word_rate", "words/100", 1.0, "rel")]
    header = f"{'condition':<30}"
    for _, label, _, how in metrics:
        change = f"Δ pts [{ci}]" if how == "points" else f"Δ% [{ci}]"
        header += f" {label:>10} {change:>24}"
    header += f" {'ρ':>5} {'fin %':>6} {'cap %':>6} {'rep q':>6} {'gates':>11}"
    lines = [header, "-" * len(header)]
    for _, row in summary.iterrows():
        name = str(row["condition"])
        if row.get("kind") == "control_feature":
            name = "  · " + name.rsplit(" · ", 1)[-1]
        line = f"{name[:30]:<30}"
        for key, _, scale, how in metrics:
            value = row.get(key)
            line += f" {_fmt(None if value is None else value * scale, '.1f' if scale == 100.0 else '.2f'):>10}"
            if how == "points":
                d, lo, hi = (row.get(f"{key}_diff{s}") for s in ("", "_low", "_high"))
                text = "" if d is None or math.isnan(d) else \
                    f"{d * 100:+.1f} [{lo * 100:+.1f}, {hi * 100:+.1f}]"
            else:
                d, lo, hi = (row.get(f"{key}_rel{s}") for s in ("", "_low", "_high"))
                text = "" if d is None or math.isnan(d) else f"{d:+.1f}% [{lo:+.1f}, {hi:+.1f}]"
            line += f" {text:>24}"
        fin, cap, rep, rho = (row.get(k) for k in ("finished", "capped", "repetition_q", "rho"))
        line += f" {_fmt(rho, '.2f'):>5}"
        line += f" {_fmt(None if fin is None else fin * 100, '.0f'):>6} {_fmt(None if cap is None else cap * 100, '.0f'):>6}"
        line += f" {_fmt(rep, '.2f'):>6} {gates_text(row):>11}"
        lines.append(line.rstrip())
    return "\n".join(lines)


def gates_text(row: Any) -> str:
    """``ok``, the failed gates (``acc``, ``fin``, ``rep``) of a summary row, or ``""`` for the baseline."""
    value = row.get("passes_gates") if hasattr(row, "get") else None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if bool(value):
        return "ok"
    names = (("gate_noninferior", "acc"), ("gate_finishes", "fin"), ("gate_repetition", "rep"))
    return "no:" + ",".join(short for key, short in names if not bool(row.get(key)))


@dataclass
class EvaluationResult:
    """Records, summary and settings of one :func:`~tl_reasoning.evaluation.evaluate` call."""

    records: Any
    """``pandas.DataFrame``, one row per generation (condition, run, item_id, sample, correct, ...)."""
    summary: Any
    """``pandas.DataFrame``, one row per condition (module docstring)."""
    conditions: dict[str, dict[str, Any]]
    """What each condition did (kind, features, strength, words ...)."""
    config: dict[str, Any] = field(default_factory=dict)
    """Settings: baseline, n_samples, max_new_tokens, sampling, bootstrap, model, benchmark ..."""
    items: list[EvalItem] = field(default_factory=list)

    @property
    def baseline(self) -> str:
        return str(self.config.get("baseline", "baseline"))

    def compare(self, condition: str, metric: str = "thinking_tokens", baseline: str | None = None, *,
                n_boot: int | None = None, confidence: float | None = None, seed: int | None = None) -> BootstrapResult:
        """Paired bootstrap of ``metric`` for any two conditions (default: vs the baseline)."""
        return compare_conditions(self.records, condition, baseline or self.baseline, metric,
                                  n_boot=n_boot or int(self.config.get("n_boot", 2000)),
                                  confidence=confidence or float(self.config.get("confidence", 0.95)),
                                  seed=int(self.config.get("seed", 0)) if seed is None else seed)

    def per_problem(self, condition: str, metric: str) -> Any:
        """Per-problem values of ``metric`` under ``condition`` (``pandas.Series`` by item id)."""
        return problem_values(self.records, condition, metric)

    def table(self) -> str:
        """The summary as text (see :func:`format_table`)."""
        return format_table(self.summary, n_samples=int(self.config.get("n_samples", 1)),
                            confidence=float(self.config.get("confidence", 0.95)))

    def plot_frame(self) -> Any:
        """Rows for :func:`~tl_reasoning.figures.steering_results_plot`: one line per feature over strength.

        Steering conditions with one feature and one strength, and random-feature controls, each
        joined by the baseline at strength 0.
        """
        import pandas as pd

        base = self.summary[self.summary["condition"] == self.baseline]
        rows = []
        steered = self.summary[self.summary["kind"].isin(["steering", "direction", "random_features"])]
        numeric = [isinstance(v, int | float) and not isinstance(v, bool) for v in steered["strength"]]
        steered = steered.loc[pd.Series(numeric, index=steered.index, dtype=bool)]
        for feature in dict.fromkeys(steered["feature"].astype(str)):
            part = steered[steered["feature"].astype(str) == feature]
            rows.append(part.assign(feature=feature))
            if not base.empty:
                rows.append(base.assign(feature=feature, strength=0.0))
        if not rows:
            return pd.DataFrame(columns=["feature", "strength", "accuracy", "thinking_tokens"])
        frame = pd.concat(rows, ignore_index=True)
        frame["strength"] = frame["strength"].astype(float)
        return frame

    def plot(self) -> Any:
        """Accuracy and thinking length against strength per feature (a matplotlib ``Figure``)."""
        from tl_reasoning.figures import steering_results_plot

        frame = self.plot_frame()
        if frame.empty:
            raise ValueError("nothing to plot: no single-feature steering conditions with a numeric strength")
        return steering_results_plot(frame, x="strength", accuracy="accuracy", length="thinking_tokens",
                                     group="feature")

    # -- files ------------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the result folder (module docstring); returns its path."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.summary.to_csv(out / "summary.csv", index=False)
        (out / "summary.json").write_text(json.dumps(_records(self.summary), indent=1, allow_nan=False) + "\n",
                                          encoding="utf-8")
        self.records.drop(columns=[c for c in _TEXT_COLUMNS if c in self.records.columns]).to_csv(
            out / "records.csv", index=False)
        with (out / "generations.jsonl").open("w", encoding="utf-8") as f:
            for row in _records(self.records):
                f.write(json.dumps(row, allow_nan=False) + "\n")
        with (out / "items.jsonl").open("w", encoding="utf-8") as f:
            for item in self.items:
                f.write(json.dumps(item.to_json()) + "\n")
        config = {**self.config, "conditions": self.conditions}
        (out / "config.json").write_text(json.dumps(_jsonable(config), indent=1, allow_nan=False) + "\n",
                                         encoding="utf-8")
        (out / "table.txt").write_text(self.table() + "\n", encoding="utf-8")
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> EvaluationResult:
        """Read a folder written by :meth:`save`."""
        import pandas as pd

        path = Path(directory)
        missing = [n for n in ("config.json", "summary.json", "generations.jsonl") if not (path / n).is_file()]
        if missing:
            raise FileNotFoundError(f"{path} is not an evaluation result folder (missing {', '.join(missing)})")
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        conditions = config.pop("conditions", {})
        with (path / "generations.jsonl").open(encoding="utf-8") as f:
            records = pd.DataFrame([json.loads(line) for line in f if line.strip()])
        summary = pd.DataFrame(json.loads((path / "summary.json").read_text(encoding="utf-8")))
        summary = summary.astype({c: float for c in summary.columns if _numeric(summary[c])})
        items = []
        if (path / "items.jsonl").is_file():
            with (path / "items.jsonl").open(encoding="utf-8") as f:
                items = [EvalItem.from_json(json.loads(line)) for line in f if line.strip()]
        return cls(records, summary, conditions, config, items)


def _numeric(column: Any) -> bool:
    """All non-null values are numbers (not booleans): a float column that JSON wrote with nulls."""
    values = [v for v in column if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return any(isinstance(v, float) for v in values) or (
        column.isna().any() and bool(values)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)) or (
        not values and len(column) > 0)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def _records(frame: Any) -> list[dict[str, Any]]:
    return [_jsonable(row) for row in frame.to_dict(orient="records")]
