"""The protocol's gates: when a steered condition may count as "more reasoning" at all.

Fixed before any result is seen (docs/evaluation.md states the same). A steered condition passes the
gates only if all three hold against the baseline of the same evaluation:

1. **non-inferior on accuracy** — the lower bound of the paired-bootstrap CI of Δ accuracy
   (steered − baseline, pass@1) is ≥ ``−noninferiority_points`` percentage points (default 2);
2. **finishes** — its finish rate (share of generations that close their thinking section *and*
   give a parseable answer) is ≥ ``finish_ratio`` × the baseline's (default 0.95);
3. **does not degenerate** — the ``repetition_quantile`` quantile (default 0.95, ``numpy.quantile``
   linear interpolation) of its per-generation 4-gram repetition rates
   (:func:`~tl_reasoning.evaluation.metrics.repetition_rate`) is ≤ the baseline's same quantile +
   ``repetition_tolerance`` (default 0.05): at most about 5 % of its generations may repeat more
   than the baseline's most repetitive 5 %.

Only then are its changes in thinking length and reasoning-word rate (both measured on finished
generations; the share of generations stopped by the token cap is reported separately) read as
"more reasoning". Thinking that runs on to the cap, or ``Wait Wait Wait …``, cannot pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["GATES", "Criteria", "criteria_text", "gate_values", "as_number"]

#: Summary columns of the three gates (``True``/``False``; ``None`` for the baseline or without data).
GATES: tuple[str, ...] = ("gate_noninferior", "gate_finishes", "gate_repetition")


@dataclass(frozen=True)
class Criteria:
    """Thresholds of the gates (module docstring); the defaults are the protocol's."""

    noninferiority_points: float = 2.0
    """Δ accuracy CI lower bound must be ≥ −this many percentage points."""
    finish_ratio: float = 0.95
    """Finish rate must be ≥ this × the baseline's."""
    repetition_quantile: float = 0.95
    """Quantile of per-generation repetition rates compared with the baseline's."""
    repetition_tolerance: float = 0.05
    """Absolute slack on the repetition quantile."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def as_number(value: Any) -> float | None:
    """``float(value)``, or ``None`` for missing, non-numeric and non-finite values (summary cells)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def gate_values(row: Mapping[str, Any], baseline: Mapping[str, Any], criteria: Criteria | None = None
                ) -> dict[str, Any]:
    """The gates of one summary ``row`` against the ``baseline`` row.

    Reads ``accuracy_diff_low``, ``finished`` and ``repetition_q`` of both rows; returns
    ``finish_ratio``, ``repetition_limit``, the three :data:`GATES` and ``passes_gates`` (a gate
    without the data to decide it fails).
    """
    c = criteria or Criteria()
    low = as_number(row.get("accuracy_diff_low"))
    fin, base_fin = as_number(row.get("finished")), as_number(baseline.get("finished"))
    rep, base_rep = as_number(row.get("repetition_q")), as_number(baseline.get("repetition_q"))
    ratio = None if fin is None or not base_fin else fin / base_fin
    limit = None if base_rep is None else base_rep + c.repetition_tolerance
    gates = {
        "gate_noninferior": low is not None and low * 100.0 >= -c.noninferiority_points - 1e-9,
        "gate_finishes": (fin is not None and base_fin is not None
                          and fin >= c.finish_ratio * base_fin - 1e-12),
        "gate_repetition": rep is not None and limit is not None and rep <= limit + 1e-12,
    }
    return {"finish_ratio": ratio, "repetition_limit": limit, **gates, "passes_gates": all(gates.values())}


def criteria_text(criteria: Criteria | None = None) -> str:
    """The gates in one paragraph, for reports."""
    c = criteria or Criteria()
    return (f"A steered condition counts as more reasoning only if (1) the lower bound of the CI of Δ accuracy is "
            f"≥ −{c.noninferiority_points:g} points (non-inferior), (2) it finishes (closes thinking and gives a "
            f"parseable answer) at ≥ {c.finish_ratio:.0%} of the baseline's rate, and (3) the "
            f"{c.repetition_quantile:.0%} quantile of its per-generation 4-gram repetition rate is ≤ the "
            f"baseline's + {c.repetition_tolerance:g} (no degeneration). Thinking length and word rate are "
            "measured on finished generations; the share stopped by the token cap is reported separately.")
