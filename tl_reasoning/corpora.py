"""``load_corpus``: documents from registered corpora or local files, as an iterable of dicts.

Accepted specs: a registered name (``organism:reasoning``, ``organism:plain``; a trailing
``:train`` / ``:heldout`` picks the split), a text file (one document per line), a JSON Lines file
(``text_field`` names the text, default ``text``), a parquet file, or a directory written by
``datasets.Dataset.save_to_disk``. Every document is a dict with at least ``"text"``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["iter_texts", "load_benchmark", "load_corpus"]


def load_corpus(spec: str | os.PathLike[str], *, split: str | None = None, text_field: str = "text") -> Iterable[dict]:
    """Documents of ``spec`` (see the module docstring); files are read lazily."""
    from tl_reasoning.plugins import get_registry

    spec_str = os.fspath(spec)
    registry = get_registry("corpus")
    if spec_str in registry:
        return registry.get(spec_str).obj(split=split)
    head, _, tail = spec_str.rpartition(":")
    if head in registry and tail:
        if split is not None and split != tail:
            raise ValueError(f"corpus spec {spec_str!r} names split {tail!r} but split={split!r} was passed")
        return registry.get(head).obj(split=tail)
    path = Path(spec_str).expanduser()
    if not path.exists():
        known = ", ".join(registry.names()) or "none"
        raise FileNotFoundError(
            f"corpus {spec_str!r} is not a registered name ({known}) nor an existing file or directory "
            "(.txt, .jsonl, .parquet or a datasets directory)"
        )
    return _FileCorpus(path, text_field)


def load_benchmark(spec: str, *, split: str | None = None) -> list[dict]:
    """Benchmark items (dicts with ``prompt``, ``answer`` …) of a registered benchmark."""
    from tl_reasoning.plugins import get_registry

    return list(get_registry("benchmark").get(spec).obj(split=split))


def iter_texts(docs: Iterable[Any], text_field: str = "text") -> Iterator[str]:
    """The text of each document (a dict or a plain string)."""
    for doc in docs:
        if isinstance(doc, str):
            yield doc
        else:
            try:
                yield doc[text_field]
            except KeyError:
                raise KeyError(f"document has no {text_field!r} field (fields: {sorted(doc)}); "
                               "pass --text-field") from None


class _FileCorpus:
    """Re-iterable documents of one local file or datasets directory."""

    def __init__(self, path: Path, text_field: str) -> None:
        self.path = path
        self.text_field = text_field

    def __iter__(self) -> Iterator[dict]:
        path, field = self.path, self.text_field
        if path.is_dir():
            from datasets import load_from_disk

            for row in load_from_disk(str(path)):
                yield self._doc(dict(row))
        elif path.suffix == ".parquet":
            import pandas as pd

            for row in pd.read_parquet(path).to_dict(orient="records"):
                yield self._doc(row)
        elif path.suffix in (".jsonl", ".json"):
            with path.open(encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            yield self._doc(json.loads(line))
                        except json.JSONDecodeError as exc:
                            raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        else:
            with path.open(encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        yield {field: line.rstrip("\n")}

    def _doc(self, row: dict) -> dict:
        if self.text_field not in row:
            raise KeyError(f"{self.path}: rows have no {self.text_field!r} field (fields: {sorted(row)}); "
                           "pass text_field= / --text-field")
        if self.text_field != "text":
            row = {**row, "text": row[self.text_field]}
        return row
