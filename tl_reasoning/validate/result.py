""":class:`ValidationResult`: the selector table, the dose-response table, their text and the plot.

``selection`` has one row per selector (precision, recall and average precision of its top
``n_selected`` features against the ground truth); ``dose`` has one row per steered condition ×
ρ × positions with the changes against the unsteered baseline and their paired-bootstrap CIs, as
:func:`tl_reasoning.evaluation.evaluate` summarised them (nothing is re-estimated here).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tl_reasoning.evaluation.criteria import as_number

__all__ = ["DOSE_COLUMNS", "SELECTION_COLUMNS", "ValidationResult"]

SELECTION_COLUMNS = ("selector", "n_selected", "n_true_selected", "precision", "recall", "average_precision",
                     "mean_auc_hard")
#: The dose-response metrics: (label, summary column prefix, scale, unit).
DOSE_METRICS = (("Δ thinking length", "thinking_tokens_rel", 1.0, "%"),
                ("Δ reasoning-word rate", "word_rate_rel", 1.0, "%"),
                ("Δ accuracy", "accuracy_diff", 100.0, "pts"))
DOSE_COLUMNS = ("group", "rho", "positions", "n_runs", "measured_rho", "finished",
                *(f"{c}{s}" for _, c, _, _ in DOSE_METRICS for s in ("", "_low", "_high")))


_num = as_number


def _cell(value: Any, spec: str = ".3f") -> str:
    number = _num(value)
    return "n/a" if number is None else format(number, spec)


def _ci(row: Any, column: str, scale: float) -> str:
    mid, low, high = (_num(row.get(f"{column}{s}")) for s in ("", "_low", "_high"))
    if mid is None:
        return "n/a"
    text = f"{mid * scale:+.1f}"
    if low is not None and high is not None:
        text += f" [{low * scale:+.1f}, {high * scale:+.1f}]"
    return text


def _text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


@dataclass
class ValidationResult:
    """What ``tl-reasoning validate`` measured (module docstring)."""

    selection: Any
    """``pandas.DataFrame`` with :data:`SELECTION_COLUMNS`."""
    dose: Any
    """``pandas.DataFrame`` with :data:`DOSE_COLUMNS` (empty without the causal part)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """SAE, ground-truth size, chance precision, steered features, configuration, timings."""
    evaluation: Any = None
    """The :class:`~tl_reasoning.evaluation.EvaluationResult` behind ``dose`` (``None`` without it)."""

    def to_json(self) -> dict[str, Any]:
        """Everything as plain JSON values (NaN → ``null``)."""
        def rows(frame: Any) -> list[dict[str, Any]]:
            if frame is None or frame.empty:
                return []
            return [{k: (None if isinstance(v, float) and math.isnan(v) else
                         v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                    for r in frame.to_dict(orient="records")]

        return {"meta": self.meta, "selection": rows(self.selection), "dose_response": rows(self.dose)}

    def selection_table(self) -> str:
        rows = [[str(r["selector"]), str(int(r["n_selected"])), str(int(r["n_true_selected"])),
                 _cell(r["precision"]), _cell(r["recall"]), _cell(r["average_precision"]),
                 _cell(r.get("mean_auc_hard"))]
                for r in self.selection.to_dict(orient="records")]
        return _text_table(list(SELECTION_COLUMNS), rows)

    def dose_table(self) -> str:
        if self.dose is None or self.dose.empty:
            return "(no causal part: run without --no-causal for the dose-response table)"
        header = ["condition", "rho", "positions", "runs", "rho seen", "finished",
                  *(f"{label} {unit}" for label, _, _, unit in DOSE_METRICS)]
        rows = [[str(r["group"]), f"{float(r['rho']):g}", str(r["positions"]), str(int(r["n_runs"])),
                 _cell(r["measured_rho"]), _cell(r["finished"], ".2f"),
                 *(_ci(r, column, scale) for _, column, scale, _ in DOSE_METRICS)]
                for r in self.dose.to_dict(orient="records")]
        return _text_table(header, rows)

    def summary(self) -> str:
        """Both tables as text, with the facts needed to read them."""
        m = self.meta
        lines = [f"validation of feature selectors against the ground truth: SAE {m.get('sae')} "
                 f"({m.get('d_sae')} features), {m.get('n_ground_truth')} ground-truth features "
                 f"(chance precision {_cell(m.get('chance_precision'))}), top-n = ReasonScore's selected set "
                 f"(n = {m.get('n_selected')})", "", self.selection_table()]
        if self.dose is not None and not self.dose.empty:
            conf = m.get("confidence", 0.95)
            lines += ["", f"dose-response vs the unsteered baseline ({m.get('n_problems')} problems x "
                      f"{m.get('n_samples')} sample(s), T {m.get('temperature')}, top-p {m.get('top_p')}; "
                      f"{conf:.0%} paired-bootstrap CIs; rho seen = push measured while generating):", "",
                      self.dose_table()]
            lines += ["", "steered: " + "; ".join(f"{k} {v}" for k, v in (m.get("steered") or {}).items())]
        elif m.get("causal_skipped"):
            lines += ["", f"causal part skipped: {m['causal_skipped']}"]
        return "\n".join(lines)

    def plot(self) -> Any:
        """Dose-response figure: one panel per metric, measured points with CI error bars, no lines."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        if self.dose is None or self.dose.empty:
            raise ValueError("nothing to plot: the validation has no causal part")
        fig = Figure(figsize=(12.0, 3.8), dpi=110)
        FigureCanvasAgg(fig)  # no display needed
        axes = fig.subplots(1, len(DOSE_METRICS), gridspec_kw={"wspace": 0.35})
        series = list(dict.fromkeys(zip(self.dose["group"], self.dose["positions"], strict=True)))
        for ax, (label, column, scale, unit) in zip(axes, DOSE_METRICS, strict=True):
            for k, (group, where) in enumerate(series):
                part = self.dose[(self.dose["group"] == group) & (self.dose["positions"] == where)]
                x = part["rho"].astype(float).to_numpy() * (1.0 + 0.04 * (k - (len(series) - 1) / 2))
                y = part[column].astype(float).to_numpy() * scale
                low = y - part[f"{column}_low"].astype(float).to_numpy() * scale
                high = part[f"{column}_high"].astype(float).to_numpy() * scale - y
                name = group if len({w for _, w in series}) == 1 else f"{group} ({where})"
                ax.errorbar(x, y, yerr=[low, high], fmt="o", linestyle="none", capsize=3, label=name)
            ax.axhline(0.0, color="grey", linewidth=0.8)
            ax.set_xscale("log")
            rhos = sorted(set(self.dose["rho"].astype(float)))
            ax.set_xlim(rhos[0] / 1.5, rhos[-1] * 1.5)  # also when no value was measured
            ax.minorticks_off()
            ax.set_xticks(rhos, [f"{r:g}" for r in rhos])  # ticks at the measured ρ only
            ax.set_xlabel("ρ = ‖Δ‖ / mean‖x‖")
            ax.set_ylabel(f"{label} ({unit})")
        axes[0].legend(fontsize=7)
        fig.suptitle(f"steering dose-response, SAE {self.meta.get('sae')} (measured ρ only)", fontsize=9)
        return fig

    def save(self, directory: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``validation.json``, ``validation.txt`` and (with the causal part) ``dose_response.png``
        and the evaluation folder ``evaluation/``; returns the paths."""
        from tl_reasoning.figures import save_png

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"json": out / "validation.json", "text": out / "validation.txt"}
        paths["json"].write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n")
        paths["text"].write_text(self.summary() + "\n")
        if self.dose is not None and not self.dose.empty:
            paths["plot"] = save_png(self.plot(), out / "dose_response.png")
        if self.evaluation is not None:
            paths["evaluation"] = Path(self.evaluation.save(out / "evaluation"))
        return paths
