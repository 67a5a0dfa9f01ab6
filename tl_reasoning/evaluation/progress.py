"""Progress events of :func:`~tl_reasoning.evaluation.evaluate` and the default stderr printer."""

from __future__ import annotations

import sys
from dataclasses import dataclass

__all__ = ["EvalProgress", "stderr_progress"]


@dataclass(frozen=True)
class EvalProgress:
    """Progress of :func:`evaluate`, passed to a progress callback after every batch."""

    condition: str
    condition_index: int
    n_conditions: int
    run: int
    n_runs: int
    done: int
    """Generations finished in this run."""
    total: int
    """Generations in this run."""
    elapsed: float
    """Seconds since :func:`evaluate` started."""


def stderr_progress(event: EvalProgress) -> None:
    """One stderr line per batch: condition, run, generations done, elapsed time."""
    run = f" run {event.run + 1}/{event.n_runs}" if event.n_runs > 1 else ""
    sys.stderr.write(f"evaluate [{event.condition_index + 1}/{event.n_conditions}] {event.condition}{run}: "
                     f"{event.done}/{event.total} generations ({event.elapsed:.1f} s)\n")
    sys.stderr.flush()
