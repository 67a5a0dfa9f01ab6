"""Self-contained HTML views that also display inline in Jupyter.

circuitsvis renders a component either with a CDN import (``cdn_src``, needs network) or with its
whole JavaScript bundle inlined (``local_src``, ~1.3 MB). A :class:`View` keeps the inlined form,
so a saved file opens offline.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

__all__ = ["View"]


class View:
    """An HTML fragment with a title; ``save()`` writes a standalone offline page."""

    def __init__(self, fragment: str, title: str = "tl-reasoning view", data: dict[str, Any] | None = None) -> None:
        self.fragment = fragment
        self.title = title
        self.data = data or {}

    @classmethod
    def from_circuitsvis(cls, rendered: Any, title: str, data: dict[str, Any] | None = None) -> View:
        """Wrap a circuitsvis ``RenderedHTML`` using its inlined (offline) source."""
        return cls(rendered.local_src, title, data)

    @property
    def html(self) -> str:
        """A complete offline HTML document."""
        return (
            "<!doctype html>\n<html><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title></head><body>\n"
            f"<h3>{html.escape(self.title)}</h3>\n{self.fragment}\n</body></html>\n"
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the standalone page to ``path`` (parent folders created) and return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(self.html, encoding="utf-8")
        tmp.replace(target)
        return target

    def _repr_html_(self) -> str:
        return self.fragment

    def __repr__(self) -> str:
        return f"View({self.title!r}, {len(self.fragment)} characters)"
