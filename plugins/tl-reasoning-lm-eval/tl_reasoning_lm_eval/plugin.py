"""The tl-reasoning side of the bridge: lm-eval tasks as named corpora and benchmarks.

Registered through the ``tl_reasoning`` entry-point group:

* corpus ``lm-eval`` — ``tl_reasoning.load_corpus("lm-eval:<task>")`` (or ``lm-eval:<path/to/task.yaml>``)
  yields the task's evaluation documents with ``text`` = prompt + target, so ReasonScore statistics,
  f_max estimates and dashboards can run on any lm-eval dataset (``tl-reasoning score --data lm-eval:<task>``).
* benchmark ``lm-eval`` — ``tl_reasoning.load_benchmark("lm-eval", split="<task>")`` gives items with
  ``prompt`` and ``answer`` (``text`` = the prompt), the shape of tl-reasoning benchmarks.

Task folders outside lm-eval are found through ``$TL_REASONING_LM_EVAL_INCLUDE``. Loaders run
locally and read data only when called; nothing here is imported at tl-reasoning's import.
"""

from __future__ import annotations

from typing import Any

from tl_reasoning.hookspecs import hookimpl
from tl_reasoning_lm_eval import MODEL_TYPE


def _task(split: str | None, how: str) -> str:
    if not split:
        raise ValueError(f"name the lm-eval task: {how}")
    return split


def load_task_corpus(split: str | None = None) -> list[dict]:
    """Documents of the lm-eval task named by ``split`` (``load_corpus("lm-eval:<task>")``)."""
    from tl_reasoning_lm_eval.tasks import task_documents

    return task_documents(_task(split, "load_corpus('lm-eval:<task name or task.yaml>')"))


def load_task_benchmark(split: str | None = None) -> list[dict]:
    """Items (``prompt``, ``answer``) of the lm-eval task named by ``split``."""
    from tl_reasoning_lm_eval.tasks import task_documents

    docs = task_documents(_task(split, "load_benchmark('lm-eval', split='<task name or task.yaml>')"))
    return [{**doc, "text": doc["prompt"]} for doc in docs]


@hookimpl
def tl_reasoning_register_artifacts(register: Any) -> None:
    register("corpus", "lm-eval", load_task_corpus,
             f"documents of any lm-eval task: lm-eval:<task or task.yaml> (lm-eval model type {MODEL_TYPE!r})")
    register("benchmark", "lm-eval", load_task_benchmark,
             "prompt/answer items of any lm-eval task: load_benchmark('lm-eval', split='<task>')")
