"""Output paths checked before any compute, and atomic writes that never lose the previous file.

``check_output_dir`` / ``check_output_file`` run first in ``score``, ``dashboard``, ``diff`` and
``figures``: an ``--out`` that names a file (or, for a page, a directory), lies under a file, or is
not writable fails at once, before a model is loaded. :func:`write_atomic` writes a temporary file
next to the target and renames it over the target: a full disk or a kill leaves the previous
version intact and no temporary file behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["OutputPathError", "check_output_dir", "check_output_file", "write_atomic"]


class OutputPathError(OSError, ValueError):
    """An output path that cannot be written (a file where a directory is needed, no permission, disk full)."""


def check_output_dir(path: str | os.PathLike[str], flag: str = "--out") -> Path:
    """``path`` as a :class:`Path` if it is (or can be created as) a writable directory, else :class:`OutputPathError`."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"{flag} {out} is a file, not a directory; pass a directory path (it is created)")
    _check_writable(_existing_ancestor(out, flag), flag, out)
    return out


def check_output_file(path: str | os.PathLike[str], flag: str = "--out") -> Path:
    """``path`` as a :class:`Path` if a file can be written there, else :class:`OutputPathError`."""
    out = Path(path)
    if out.is_dir():
        raise OutputPathError(f"{flag} {out} is a directory; pass a file path such as {out / 'dashboard.html'}")
    _check_writable(_existing_ancestor(out.parent, flag), flag, out)
    return out


def _existing_ancestor(path: Path, flag: str) -> Path:
    for parent in (path, *path.parents):
        if parent.exists():
            if not parent.is_dir():
                raise OutputPathError(f"{flag} {path}: {parent} is a file, so no directory can be made there; "
                                      "pass another path")
            return parent
    return Path.cwd()


def _check_writable(directory: Path, flag: str, target: Path) -> None:
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".tl-reasoning-write-test-"):
            pass
    except OSError as exc:
        raise OutputPathError(f"{flag} {target}: cannot write in {directory} ({exc.strerror or exc}); pass a "
                              "writable path") from None


def write_atomic(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` then rename ``tmp`` over ``path``; on any failure remove ``tmp``, keep ``path``.

    ``OSError`` (disk full, permission) becomes :class:`OutputPathError` naming the file.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OutputPathError:
        raise
    except OSError as exc:
        kept = "the previous file is kept" if path.exists() else "nothing was written"
        raise OutputPathError(f"could not write {path} ({exc.strerror or exc}); {kept}; free disk space or "
                              "choose another --out, then rerun (a run resumes from its last checkpoint)") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
