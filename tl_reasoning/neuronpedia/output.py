"""The export folder: refused when it holds something else, replaced only with ``overwrite``, files atomic.

Every file is written through a temporary file and renamed (:func:`~tl_reasoning.scoring.outputs.write_atomic`);
``manifest.json`` is written last, so a folder without one is an unfinished export. Replacing an
export removes the files its previous manifest listed that the new one does not write.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EXPORT_SCHEMA", "MANIFEST", "NeuronpediaExport", "prepare_dir", "write_json", "write_jsonl",
           "write_manifest"]

EXPORT_SCHEMA = "tl-reasoning/neuronpedia-export/v1"
MANIFEST = "manifest.json"


@dataclass
class NeuronpediaExport:
    """A written export: its folder, the files in it (manifest last) and the manifest's content."""

    out_dir: Path
    files: list[str]
    manifest: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"NeuronpediaExport({str(self.out_dir)!r}, {len(self.files)} files)"


def prepare_dir(out_dir: str | os.PathLike[str], overwrite: bool) -> tuple[Path, list[str]]:
    """``(folder, files of the export it replaces)``; refuses a non-export folder, and an export without ``overwrite``."""
    from tl_reasoning.scoring.outputs import check_output_dir

    out = check_output_dir(out_dir)
    previous: list[str] = []
    if out.is_dir() and any(out.iterdir()):
        manifest = out / MANIFEST
        if not manifest.is_file():
            raise ValueError(f"--out {out} exists and is not a tl-reasoning Neuronpedia export (no {MANIFEST}); "
                             "pass a new or empty folder")
        if not overwrite:
            raise ValueError(f"--out {out} already holds a Neuronpedia export; pass --overwrite (overwrite=True) "
                             "to replace it, or another folder")
        try:
            previous = [str(f) for f in json.loads(manifest.read_text(encoding="utf-8")).get("files", [])]
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            previous = []
    out.mkdir(parents=True, exist_ok=True)
    return out, previous


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def write_json(path: Path, value: Any, *, indent: int | None = None) -> Path:
    """``value`` as JSON at ``path``, atomically (NaN and infinity refused)."""
    from tl_reasoning.scoring.outputs import write_atomic

    text = (json.dumps(value, ensure_ascii=False, allow_nan=False, indent=indent) if indent else _dump(value)) + "\n"
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """One JSON object per line at ``path``, atomically."""
    from tl_reasoning.scoring.outputs import write_atomic

    text = "".join(_dump(dict(row)) + "\n" for row in rows)
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_manifest(out: Path, files: list[str], manifest: dict[str, Any], previous: list[str]) -> NeuronpediaExport:
    """Write ``manifest.json`` (schema, version, files) last, then drop the replaced export's leftover files."""
    from tl_reasoning._version import __version__

    content = {"schema": EXPORT_SCHEMA, "created_by": f"tl-reasoning {__version__}", **manifest, "files": files}
    write_json(out / MANIFEST, content, indent=1)
    for name in set(previous) - set(files) - {MANIFEST}:
        stale = out / name
        if Path(name).name == name and stale.is_file():  # only plain names in this folder
            stale.unlink()
    return NeuronpediaExport(out, [*files, MANIFEST], content)
