"""Corpora of the model organism, stored compactly as gzip'd JSON Lines in the artifacts.

Splits: ``reasoning`` (train / heldout), ``plain`` (train / heldout) and ``benchmark`` (test):
held-out problems whose questions never occur in any training document. Each document is a
dict with at least ``"text"``; benchmark items also have ``"question"``, ``"prompt"``,
``"answer"`` and ``"kind"``. The committed ``train`` splits are a prefix of the (seeded,
regenerable) streams the models were trained on.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from . import artifact_dir

__all__ = ["CORPORA", "split_path", "save_split", "iter_split", "load_split"]

#: Corpus name -> available splits.
CORPORA: dict[str, tuple[str, ...]] = {
    "reasoning": ("train", "heldout"),
    "plain": ("train", "heldout"),
    "benchmark": ("test",),
}


def split_path(corpus: str, split: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Path of ``corpus``/``split`` under ``root`` (default: the committed artifacts)."""
    if corpus not in CORPORA:
        raise KeyError(f"unknown organism corpus {corpus!r}; expected one of {sorted(CORPORA)}")
    if split not in CORPORA[corpus]:
        raise KeyError(f"corpus {corpus!r} has splits {CORPORA[corpus]}, not {split!r}")
    return Path(root or artifact_dir()) / "data" / f"{corpus}_{split}.jsonl.gz"


def save_split(
    docs: Iterable[dict], corpus: str, split: str, root: str | os.PathLike[str] | None = None
) -> Path:
    """Write documents as gzip'd JSONL (deterministic bytes: no timestamp in the gzip header)."""
    path = split_path(corpus, split, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = "".join(json.dumps(d, separators=(",", ":")) + "\n" for d in docs).encode()
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as f:
        f.write(payload)
    return path


def iter_split(corpus: str, split: str, root: str | os.PathLike[str] | None = None) -> Iterator[dict]:
    """Iterate over the documents of ``corpus``/``split``."""
    with gzip.open(split_path(corpus, split, root), "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def load_split(corpus: str, split: str, root: str | os.PathLike[str] | None = None) -> list[dict]:
    """All documents of ``corpus``/``split`` (e.g. ``load_split("reasoning", "heldout")``)."""
    return list(iter_split(corpus, split, root))
