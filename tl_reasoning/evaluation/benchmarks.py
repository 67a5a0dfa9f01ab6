"""Benchmarks for evaluation: registered ones (the organism) and local files in published formats.

:func:`load_eval_benchmark` turns any of them into :class:`EvalItem` objects with one schema, so
prompting, answer checking and metrics never look at the source format. Local files are what a
user downloaded from the Hub (no network is used): JSON (a list of records, or a ``{"data"|"rows"|
"train"|"test": [...]}`` object), JSON Lines, CSV or parquet, or a directory of such files (read
in name order). Formats, detected from the columns (or forced with ``format=``):

``aime``
    AIME-2024 (``Maxwell-Jia/AIME_2024``: ``ID, Problem, Solution, Answer``; also lower-case
    ``id, problem, answer`` as in ``simplescaling/aime24_nofigures``): integer answers 0–999.
``math500``
    MATH-500 (``HuggingFaceH4/MATH-500``: ``problem, solution, answer, subject, level,
    unique_id``): LaTeX answers checked after normalisation.
``gpqa``
    GPQA (``Idavidrein/gpqa``: ``Question, Correct Answer, Incorrect Answer 1..3, Record ID``):
    multiple choice, the four options shuffled with a fixed seed per item (the same order on every
    run and machine), the gold answer a letter ``A``–``D``.
``organism``
    records with ``question``/``prompt`` and an integer ``answer`` (the shipped organism benchmark).
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ANSWER_TYPES",
    "BENCHMARK_FORMATS",
    "CHOICE_LETTERS",
    "EvalItem",
    "detect_format",
    "items_from_records",
    "load_eval_benchmark",
]

#: Answer types: ``integer`` (organism, AIME), ``math`` (LaTeX, MATH-500), ``choice`` (a letter, GPQA).
ANSWER_TYPES: tuple[str, ...] = ("integer", "math", "choice")
#: Letters of multiple-choice options, in order.
CHOICE_LETTERS: str = "ABCDEFGHIJ"
_GPQA_WRONG = ("Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")
_FILE_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet")


@dataclass(frozen=True)
class EvalItem:
    """One benchmark problem in the uniform schema every evaluation step uses."""

    id: str
    """Stable identifier (the source's id, else ``<benchmark>-<row>``)."""
    question: str
    """The problem text put into the instruction template (GPQA: question and lettered options)."""
    answer: str
    """Gold answer as text: an integer, a LaTeX expression or an option letter."""
    answer_type: str
    """One of :data:`ANSWER_TYPES`."""
    benchmark: str = ""
    """Source format or registered name (``aime``, ``math500``, ``gpqa``, ``organism`` ...)."""
    prompt: str | None = None
    """A ready raw prompt used as-is when the tokenizer has no chat template (the organism's)."""
    choices: tuple[str, ...] = ()
    """Multiple choice: the options in the order shown (``choices[0]`` is ``A``)."""
    meta: Mapping[str, Any] = field(default_factory=dict)
    """Everything else of the source record (solution, subject, level, original id ...)."""

    def __post_init__(self) -> None:
        if self.answer_type not in ANSWER_TYPES:
            raise ValueError(f"answer_type must be one of {', '.join(ANSWER_TYPES)}, got {self.answer_type!r}")

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict (``EvalItem.from_json`` reverses it)."""
        data = asdict(self)
        data["choices"] = list(self.choices)
        data["meta"] = {k: _plain(v) for k, v in dict(self.meta).items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EvalItem:
        return cls(str(data["id"]), str(data["question"]), str(data["answer"]), str(data["answer_type"]),
                   str(data.get("benchmark", "")), data.get("prompt"), tuple(data.get("choices", ())),
                   dict(data.get("meta", {})))


# -- format detection ---------------------------------------------------------------------------
def _has(columns: set[str], *names: str) -> bool:
    return all(n in columns for n in names)


def _is_aime(columns: set[str]) -> bool:
    return (_has(columns, "Problem", "Answer") or _has(columns, "problem", "answer")) and "subject" not in columns \
        and "unique_id" not in columns


def _is_math500(columns: set[str]) -> bool:
    return _has(columns, "problem", "answer") and ("unique_id" in columns or "subject" in columns
                                                    or "level" in columns)


def _is_gpqa(columns: set[str]) -> bool:
    return _has(columns, "Question", "Correct Answer", *_GPQA_WRONG)


def _is_organism(columns: set[str]) -> bool:
    return "answer" in columns and ("question" in columns or "prompt" in columns)


#: Known formats: name → (what it needs, detector). Detection tries them in this order.
BENCHMARK_FORMATS: dict[str, str] = {
    "gpqa": "Question, Correct Answer, Incorrect Answer 1..3 (Record ID)",
    "math500": "problem, answer (+ subject/level/unique_id to be detected)",
    "aime": "Problem, Answer (ID, Solution) or problem, answer (id)",
    "organism": "question or prompt, answer",
}
_DETECTORS = {"gpqa": _is_gpqa, "math500": _is_math500, "aime": _is_aime, "organism": _is_organism}
#: What a forced ``format=`` needs (detection above also tells similar formats apart).
_FITS = {"gpqa": _is_gpqa, "math500": lambda c: _has(c, "problem", "answer"),
         "aime": lambda c: _has(c, "Problem", "Answer") or _has(c, "problem", "answer"), "organism": _is_organism}


def detect_format(columns: Iterable[str]) -> str:
    """The benchmark format of records with these columns; ``ValueError`` listing columns and formats."""
    cols = {str(c) for c in columns}
    for name, detector in _DETECTORS.items():
        if detector(cols):
            return name
    raise ValueError(f"cannot tell the benchmark format from the columns {sorted(cols)}; known formats: "
                     + "; ".join(f"{k} ({v})" for k, v in BENCHMARK_FORMATS.items())
                     + ". Rename the columns or pass format=")


# -- records → items ----------------------------------------------------------------------------
def items_from_records(records: Sequence[Mapping[str, Any]], format: str | None = None, *,
                       name: str | None = None, seed: int = 0) -> list[EvalItem]:
    """Convert source records (dicts) of one benchmark to :class:`EvalItem` (format detected if ``None``).

    ``seed`` fixes the GPQA option order (per item: the order depends on the seed and the item's id).
    """
    if not records:
        return []
    fmt = format or detect_format(records[0].keys())
    if fmt not in _DETECTORS:
        raise ValueError(f"unknown benchmark format {fmt!r}; known: {', '.join(BENCHMARK_FORMATS)}")
    columns = {str(c) for c in records[0].keys()}
    if not _FITS[fmt](columns):
        raise ValueError(f"records with columns {sorted(columns)} are not in the {fmt} format "
                         f"({BENCHMARK_FORMATS[fmt]})")
    convert = {"aime": _aime_item, "math500": _math_item, "gpqa": _gpqa_item, "organism": _organism_item}[fmt]
    label = name or fmt
    return [convert(dict(r), i, label, seed) for i, r in enumerate(records)]


def _get(record: dict, *keys: str) -> Any:
    for key in keys:
        if key in record and record[key] is not None and not _is_nan(record[key]):
            return record[key]
    return None


def _rest(record: dict, used: Iterable[str]) -> dict[str, Any]:
    drop = set(used)
    return {k: _plain(v) for k, v in record.items() if k not in drop}


def _aime_item(record: dict, row: int, name: str, seed: int) -> EvalItem:
    problem, answer = _get(record, "Problem", "problem"), _get(record, "Answer", "answer")
    if problem is None or answer is None:
        raise ValueError(f"{name} row {row} has no problem or answer")
    ident = _get(record, "ID", "id", "Id")
    return EvalItem(str(ident) if ident is not None else f"{name}-{row}", str(problem), _integer_text(answer),
                    "integer", name, None, (), _rest(record, ("Problem", "problem", "Answer", "answer")))


def _math_item(record: dict, row: int, name: str, seed: int) -> EvalItem:
    ident = _get(record, "unique_id", "id")
    return EvalItem(str(ident) if ident is not None else f"{name}-{row}", str(record["problem"]),
                    str(record["answer"]).strip(), "math", name, None, (), _rest(record, ("problem", "answer")))


def _gpqa_item(record: dict, row: int, name: str, seed: int) -> EvalItem:
    ident = _get(record, "Record ID", "id")
    ident = str(ident) if ident is not None else f"{name}-{row}"
    correct = str(record["Correct Answer"]).strip()
    options = [correct, *(str(record[k]).strip() for k in _GPQA_WRONG)]
    order = list(range(len(options)))
    random.Random(f"{seed}:{ident}").shuffle(order)  # str seeds are hashed deterministically (sha512)
    shown = tuple(options[i] for i in order)
    letter = CHOICE_LETTERS[order.index(0)]
    question = str(record["Question"]).strip()
    body = question + "\n\n" + "\n".join(f"{CHOICE_LETTERS[i]}) {opt}" for i, opt in enumerate(shown))
    meta = _rest(record, ("Question", "Correct Answer", *_GPQA_WRONG))
    meta["correct_answer"] = correct
    return EvalItem(ident, body, letter, "choice", name, None, shown, meta)


def _organism_item(record: dict, row: int, name: str, seed: int) -> EvalItem:
    question = _get(record, "question")
    prompt = _get(record, "prompt")
    ident = _get(record, "id")
    return EvalItem(str(ident) if ident is not None else f"{name}-{row}", str(question if question is not None
                                                                              else prompt).strip(),
                    _integer_text(record["answer"]), "integer", name,
                    None if prompt is None else str(prompt), (), _rest(record, ("question", "prompt", "answer")))


def _integer_text(value: Any) -> str:
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def _plain(value: Any) -> Any:
    """numpy / pandas scalars and arrays as JSON-friendly Python values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if _is_nan(value):
        return None
    return value


# -- loading ------------------------------------------------------------------------------------
def load_eval_benchmark(spec: str | os.PathLike[str] | Sequence[Mapping[str, Any]], limit: int | None = None, *,
                        format: str | None = None, split: str | None = None, seed: int = 0) -> list[EvalItem]:
    """Benchmark items from a registered name (``organism``), a local file or directory, or records.

    :param spec: a registered benchmark name, a ``.json``/``.jsonl``/``.csv``/``.parquet`` file, a
        directory of such files, or a list of dicts.
    :param limit: keep the first ``limit`` items (in file order).
    :param format: force ``aime``, ``math500``, ``gpqa`` or ``organism`` instead of detecting it.
    :param split: the split of a registered benchmark.
    :param seed: fixes the GPQA option order.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    if not isinstance(spec, str | os.PathLike):
        records = [dict(r) for r in spec]
        return items_from_records(records[:limit], format, name=format, seed=seed)
    from tl_reasoning.plugins import get_registry

    text = os.fspath(spec)
    registry = get_registry("benchmark")
    if text in registry:
        records = [dict(r) for r in registry.get(text).obj(split=split)]
        if not records:
            raise ValueError(f"benchmark {text!r} has no items")
        return items_from_records(records[:limit], format or _registered_format(records), name=text, seed=seed)
    path = Path(text).expanduser()
    if not path.exists():
        known = ", ".join(registry.names()) or "none"
        raise FileNotFoundError(f"benchmark {text!r} is neither a registered name ({known}) nor an existing file or "
                                f"directory ({', '.join(_FILE_SUFFIXES)} files)")
    records = _read_records(path)
    if not records:
        raise ValueError(f"benchmark file {path} holds no records")
    return items_from_records(records[:limit], format, name=format or None, seed=seed)


def _registered_format(records: Sequence[Mapping[str, Any]]) -> str:
    try:
        return detect_format(records[0].keys())
    except ValueError:
        return "organism"


def _read_records(path: Path) -> list[dict[str, Any]]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in _FILE_SUFFIXES and p.is_file())
        if not files:
            raise ValueError(f"benchmark directory {path} has no {', '.join(_FILE_SUFFIXES)} files")
        return [r for f in files for r in _read_records(f)]
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            with path.open(encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                for key in ("data", "rows", "train", "test", "examples"):
                    if isinstance(data.get(key), list):
                        data = data[key]
                        break
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise ValueError(f"benchmark file {path} must hold a list of records (objects)")
            return data
        if suffix in (".csv", ".parquet"):
            import pandas as pd

            frame = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
            return frame.to_dict(orient="records")
    except json.JSONDecodeError as exc:
        raise ValueError(f"benchmark file {path} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    raise ValueError(f"benchmark file {path}: unsupported file type {suffix!r}; use {', '.join(_FILE_SUFFIXES)}")
