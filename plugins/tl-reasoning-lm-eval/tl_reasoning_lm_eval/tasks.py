"""Move evaluation data between tl-reasoning and lm-evaluation-harness, both ways.

* :func:`export_benchmark_task` writes a tl-reasoning benchmark (``organism`` or any plugin's, or
  items you give) as an lm-eval ``generate_until`` task: a JSON Lines data file and a task YAML
  (``dataset_path: json``), answers extracted by a regex filter and scored by ``exact_match``.
* :func:`export_corpus_task` writes a corpus (``organism:reasoning``, a file...) as a
  ``loglikelihood_rolling`` task (word/byte perplexity, bits per byte).
* :func:`task_documents` reads the evaluation documents of any lm-eval task (a name, or a YAML
  path) as tl-reasoning documents: ``text``, ``prompt``, ``answer``. This backs the ``lm-eval``
  corpus and benchmark registered by :mod:`tl_reasoning_lm_eval.plugin`.

The exported tasks run offline: the data file is local and read by the ``datasets`` JSON builder.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_ANSWER_REGEX", "export_benchmark_task", "export_corpus_task", "task_documents"]

#: Extracts the answer after "Answer:" (the organism's format; R1-style "Answer: 42" too).
DEFAULT_ANSWER_REGEX = r"Answer:\s*(-?[0-9][0-9,]*(?:\.[0-9]+)?)"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"task name {name!r} must be letters, digits, '_', '.' or '-' (it names files and the task)")
    return name


def _items(source: str | Iterable[dict], split: str | None, loader: str) -> Iterator[dict]:
    if isinstance(source, str):
        import tl_reasoning

        load = tl_reasoning.load_benchmark if loader == "benchmark" else tl_reasoning.load_corpus
        return iter(load(source, split=split))
    return iter(source)


def _quote(value: str) -> str:
    """A YAML scalar for ``value`` (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def _write(out_dir: Path, name: str, rows: list[dict], yaml_lines: list[str]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = out_dir / f"{name}.jsonl"
    with data.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    yaml_path = out_dir / f"{name}.yaml"
    text = "\n".join(yaml_lines).replace("@DATA@", _quote(str(data.resolve())))
    yaml_path.write_text(text + "\n", encoding="utf-8")
    return yaml_path


def export_benchmark_task(
    benchmark: str | Iterable[dict],
    out_dir: str | os.PathLike[str],
    *,
    name: str | None = None,
    split: str | None = None,
    limit: int | None = None,
    max_gen_toks: int = 320,
    until: Iterable[str] = ("\nQuestion:",),
    answer_regex: str = DEFAULT_ANSWER_REGEX,
) -> Path:
    """Write ``benchmark`` as an lm-eval ``generate_until`` task; return the YAML path.

    Items need ``prompt`` (the model input) and ``answer``. The task feeds ``prompt`` as is, stops
    at EOS or any of ``until``, extracts the answer with ``answer_regex`` (first group) and scores
    ``exact_match`` against ``str(answer)``. Run it with ``--include_path out_dir --tasks <name>``.
    """
    label = _check_name(name or ("tlr_" + (benchmark if isinstance(benchmark, str) else "benchmark")))
    if re.compile(answer_regex).groups < 1:
        raise ValueError(f"answer_regex {answer_regex!r} needs a capturing group around the answer")
    rows = []
    for number, item in enumerate(islice(_items(benchmark, split, "benchmark"), limit)):
        if "prompt" not in item or "answer" not in item:
            raise ValueError(f"benchmark item {number} has no 'prompt' and 'answer' (fields: {sorted(item)})")
        rows.append({**item, "prompt": str(item["prompt"]), "answer": str(item["answer"])})
    if not rows:
        raise ValueError("the benchmark has no items to export")
    stops = ", ".join(_quote(s) for s in until)
    lines = [
        f"task: {label}",
        "dataset_path: json",
        "dataset_kwargs:",
        "  data_files:",
        "    test: @DATA@",
        "test_split: test",
        "output_type: generate_until",
        'doc_to_text: "{{prompt}}"',
        'doc_to_target: "{{answer}}"',
        'target_delimiter: ""',
        "generation_kwargs:",
        f"  until: [{stops}]",
        "  do_sample: false",
        f"  max_gen_toks: {int(max_gen_toks)}",
        "filter_list:",
        "  - name: answer",
        "    filter:",
        "      - function: regex",
        f"        regex_pattern: {_quote(answer_regex)}",
        "      - function: take_first",
        "metric_list:",
        "  - metric: exact_match",
        "    aggregation: mean",
        "    higher_is_better: true",
        "metadata:",
        "  version: 1.0",
    ]
    return _write(Path(out_dir), label, rows, lines)


def export_corpus_task(
    corpus: str | Iterable[dict],
    out_dir: str | os.PathLike[str],
    *,
    name: str | None = None,
    split: str | None = None,
    limit: int | None = None,
    text_field: str = "text",
) -> Path:
    """Write ``corpus`` as an lm-eval ``loglikelihood_rolling`` (perplexity) task; return the YAML path."""
    default = "tlr_" + re.sub(r"[^A-Za-z0-9_.-]", "_", corpus) if isinstance(corpus, str) else "tlr_corpus"
    label = _check_name(name or default)
    rows = []
    for number, doc in enumerate(islice(_items(corpus, split, "corpus"), limit)):
        text = doc if isinstance(doc, str) else doc.get(text_field)
        if not isinstance(text, str) or not text:
            raise ValueError(f"corpus document {number} has no text in {text_field!r}")
        rows.append({"text": text})
    if not rows:
        raise ValueError("the corpus has no documents to export")
    lines = [
        f"task: {label}",
        "dataset_path: json",
        "dataset_kwargs:",
        "  data_files:",
        "    test: @DATA@",
        "test_split: test",
        "output_type: loglikelihood_rolling",
        'doc_to_text: ""',
        'doc_to_target: "{{text}}"',
        "metric_list:",
        "  - {metric: word_perplexity, aggregation: weighted_perplexity, higher_is_better: false}",
        "  - {metric: byte_perplexity, aggregation: weighted_perplexity, higher_is_better: false}",
        "  - {metric: bits_per_byte, aggregation: bits_per_byte, higher_is_better: false}",
        "metadata:",
        "  version: 1.0",
    ]
    return _write(Path(out_dir), label, rows, lines)


@lru_cache(maxsize=4)
def _task_manager(include: tuple[str, ...], defaults: bool) -> Any:
    """A (cached) lm-eval TaskManager: indexing lm-eval's own ~15k task files takes seconds."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=list(include) or None, include_defaults=defaults)


def task_documents(spec: str, *, include_path: str | os.PathLike[str] | None = None, include_defaults: bool = True,
                   limit: int | None = None) -> list[dict]:
    """Evaluation documents of the lm-eval task ``spec`` as tl-reasoning documents.

    ``spec`` is a task name (one under ``include_path`` / ``$TL_REASONING_LM_EVAL_INCLUDE``, or
    lm-eval's own unless ``include_defaults=False``) or the path of a task YAML. Your folders are
    searched first, lm-eval's own tasks only when the task is not found there. Each document holds
    ``prompt`` (``doc_to_text``), ``answer`` (the target; the correct choice's text for
    multiple-choice tasks), ``text`` (prompt, target delimiter and answer: what a model reads),
    ``task``, ``doc_id`` and ``doc`` (the raw row). Zero-shot: no few-shot examples are prepended.
    A group or tag must name exactly one task. lm-eval downloads Hub datasets on first use;
    offline, only local data works.
    """
    include = include_path or os.environ.get("TL_REASONING_LM_EVAL_INCLUDE") or None
    folders = [str(include)] if include else []
    target = spec
    if spec.endswith((".yaml", ".yml")):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"no lm-eval task file at {path}")
        folders.insert(0, str(path.parent.resolve()))
        target = str(path.resolve())
    attempts = ([(tuple(folders), False)] if folders else []) + ([(tuple(folders), True)] if include_defaults else [])
    loaded, error = None, None
    for folders_key, defaults in attempts:
        try:
            loaded = _task_manager(folders_key, defaults).load(target)["tasks"]
            break
        except (KeyError, ValueError) as exc:
            error = exc
    if loaded is None:
        raise ValueError(f"lm-eval cannot load task {spec!r}: {error}. Give a task name lm-eval lists "
                         "(`lm-eval ls tasks`), a task YAML path, or set TL_REASONING_LM_EVAL_INCLUDE to the "
                         "folder holding your task") from None
    if len(loaded) != 1:
        raise ValueError(f"{spec!r} names {len(loaded)} tasks ({', '.join(sorted(loaded)[:8])}...); name one task")
    (task_name, task), = loaded.items()
    docs = task.test_docs() if task.has_test_docs() else task.validation_docs() if task.has_validation_docs() else None
    if docs is None:
        raise ValueError(f"lm-eval task {task_name!r} has neither test nor validation documents")
    delimiter = getattr(task.config, "target_delimiter", " ")
    out = []
    for doc_id, doc in enumerate(islice(docs, limit)):
        prompt = task.doc_to_text(doc)
        target = task.doc_to_target(doc)
        if task.OUTPUT_TYPE == "multiple_choice":
            choices = task.doc_to_choice(doc)
            target = choices[target] if isinstance(target, int) else target
        if isinstance(target, list):
            target = target[0] if target else ""
        prompt, target = str(prompt), str(target)
        text = f"{prompt}{delimiter}{target}" if prompt else target
        out.append({"text": text, "prompt": prompt, "answer": target, "task": task_name, "doc_id": doc_id,
                    "doc": dict(doc)})
    return out
