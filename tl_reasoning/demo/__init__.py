"""``tl-reasoning demo``: the paper reproduced end to end on one model (the organism by default).

:func:`run_demo` scores every SAE feature, builds the dashboard of the top ones, evaluates steering
against the baseline, frequency-matched random features and the word ban, diffs the candidates
against the base model's SAE and writes one report folder (HTML + PNG + JSON).
"""

from tl_reasoning.demo.config import QUICK, DemoConfig, estimated_seconds
from tl_reasoning.demo.pipeline import run_demo
from tl_reasoning.demo.report import DemoReport, outcome_check, table_1

__all__ = ["QUICK", "DemoConfig", "DemoReport", "estimated_seconds", "outcome_check", "run_demo", "table_1"]
