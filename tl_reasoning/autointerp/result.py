"""The result of automatic interpretation: a table per feature, behaviour groups, cost; and its files.

``tl-reasoning interpret --out DIR`` writes ``evidence.json`` (what the explainer saw),
``explanations.json`` (schema ``tl-reasoning/explanations/v1``, read by the dashboard and the
Neuronpedia export), ``interpretations.csv`` and ``.md`` (one row per feature), ``groups.json`` and
``groups.png`` (share of features per behaviour group, the paper's Fig. 3b) and ``usage.json``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tl_reasoning.autointerp.evidence import EvidenceSet
from tl_reasoning.autointerp.records import EXPLANATIONS_SCHEMA, Explanation

__all__ = ["InterpretResult", "group_distribution_plot"]

_TABLE_COLUMNS = ("feature", "rank", "reason_score", "group", "description", "labels", "confidence", "parsed",
                  "reasoning_words_baseline", "reasoning_words_max", "strength_max", "neuronpedia")


@dataclass
class InterpretResult:
    """Explanations of every chosen feature, their behaviour groups and what the explainer cost."""

    evidence: EvidenceSet
    explanations: list[Explanation]
    explainer: dict[str, Any] = field(default_factory=dict)
    """``explainer`` name and its public settings (``model``, ``base_url``; never a key)."""
    usage: dict[str, Any] | None = None
    group_problems: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def groups(self) -> dict[str, list[int]]:
        """Behaviour group -> features, largest group first."""
        out: dict[str, list[int]] = {}
        for exp in self.explanations:
            out.setdefault(exp.group or "(ungrouped)", []).append(exp.feature)
        return dict(sorted(out.items(), key=lambda kv: (-len(kv[1]), kv[0])))

    def table(self) -> Any:
        """One row per feature (pandas DataFrame), in the order the features were chosen."""
        import pandas as pd

        from tl_reasoning.neuronpedia import feature_url

        evidence = self.evidence.by_feature()
        np_id = self.evidence.sources.get("neuronpedia_id")
        rows = []
        for exp in self.explanations:
            ev = evidence.get(exp.feature)
            summary = {r["strength"]: r for r in ev.steering_summary()} if ev is not None else {}
            top = max(summary) if summary else None
            rows.append({
                "feature": exp.feature, "rank": (ev.score.get("rank") if ev else None),
                "reason_score": (ev.score.get("reason_score") if ev else None), "group": exp.group,
                "description": exp.description, "labels": "; ".join(exp.labels), "confidence": exp.confidence,
                "parsed": exp.parsed,
                "reasoning_words_baseline": summary[0.0]["mean_reasoning_words"] if 0.0 in summary else None,
                "reasoning_words_max": summary[top]["mean_reasoning_words"] if top is not None else None,
                "strength_max": top,
                "neuronpedia": feature_url(np_id, exp.feature) if np_id else None,
            })
        return pd.DataFrame(rows, columns=list(_TABLE_COLUMNS))

    def explanations_json(self) -> dict[str, Any]:
        sources = self.evidence.sources
        return {"schema": EXPLANATIONS_SCHEMA, "explainer": self.explainer.get("explainer"),
                "model": self.explainer.get("model"),
                "sae": sources.get("sae_name") or (sources.get("sources") or {}).get("sae"),
                "sae_hash": sources.get("sae_hash"),
                "features": [{k: v for k, v in e.to_dict().items() if k != "raw"} for e in self.explanations]}

    def save(self, out: str | os.PathLike[str]) -> Path:
        """Write every output file into ``out`` (atomically, one file at a time); returns the folder."""
        from tl_reasoning.figures.plots import save_png
        from tl_reasoning.views import write_text_atomic

        root = Path(out)
        root.mkdir(parents=True, exist_ok=True)
        self.evidence.save(root / "evidence.json")
        write_text_atomic(root / "explanations.json", json.dumps(self.explanations_json(), indent=1))
        frame = self.table()
        write_text_atomic(root / "interpretations.csv", frame.to_csv(index=False))
        write_text_atomic(root / "interpretations.md", self.markdown())
        write_text_atomic(root / "groups.json", json.dumps({"groups": self.groups(), "problems": self.group_problems},
                                                           indent=1))
        write_text_atomic(root / "usage.json", json.dumps({"explainer": self.explainer, "usage": self.usage,
                                                           "seconds": self.seconds}, indent=1))
        save_png(group_distribution_plot(self.groups()), root / "groups.png")
        return root

    def markdown(self) -> str:
        """The per-feature table as Markdown (descriptions with ``|`` and newlines made safe)."""
        lines = ["| feature | rank | group | description | labels | confidence |", "|---|---|---|---|---|---|"]
        for row in self.table().to_dict("records"):
            cells = [row["feature"], row["rank"], row["group"], row["description"], row["labels"],
                     "" if row["confidence"] is None or row["confidence"] != row["confidence"]
                     else f"{row['confidence']:.2f}"]
            lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        return "\n".join(lines) + "\n"


def group_distribution_plot(groups: dict[str, list[int]], title: str | None = None) -> Any:
    """Share of features per behaviour group (the paper's Fig. 3b), one horizontal bar per group."""
    from tl_reasoning.figures.plots import _figure

    counts = Counter({name: len(features) for name, features in groups.items()})
    total = sum(counts.values())
    if not total:
        raise ValueError("no grouped features to plot")
    names = [n for n, _ in counts.most_common()][::-1]
    shares = [100.0 * counts[n] / total for n in names]
    fig = _figure(7.0, max(2.0, 0.45 * len(names) + 1.0))
    ax = fig.add_subplot()
    ax.barh(names, shares, color="#4c72b0")
    for y, (share, name) in enumerate(zip(shares, names, strict=True)):
        ax.text(share, y, f" {counts[name]}", va="center", fontsize=8)
    ax.set_xlabel(f"% of the {total} interpreted features")
    ax.set_title(title or "Behaviour groups of the interpreted features")
    fig.tight_layout()
    return fig


def _md_cell(value: Any) -> str:
    text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
    return " ".join(text.split()).replace("|", "\\|")
