"""Self-contained HTML views that also display inline in Jupyter.

circuitsvis renders a component either with a CDN import (``cdn_src``, needs network) or with its
whole 1.3 MB JavaScript bundle inlined per component (``local_src``). A :class:`View` instead holds
trusted HTML blocks and :class:`Component` s (a circuitsvis component name and its props); a page
inlines ``circuitsvis/dist/cdn/iife.js`` ONCE as a classic script, which defines the global
``CircuitsVis``, and renders every component with one ``CircuitsVis.render(id, CircuitsVis.X, props)``
call. Props are JSON escaped for a ``<script>`` context, so token strings such as ``</script>``
stay text. Pages therefore open offline, and a dashboard of many views stays small.
"""

from __future__ import annotations

import html
import itertools
import json
import math
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["Component", "View", "circuitsvis_bundle", "cv_tokens", "page_html", "script_json"]

_SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_ids = itertools.count()


def script_json(value: Any) -> str:
    """``value`` as JSON that is safe inside an HTML ``<script>`` element.

    ``<``, ``>``, ``&``, U+2028 and U+2029 become ``\\uXXXX`` escapes (identical JSON and JavaScript
    values), so no text can close the script or open a comment; non-finite floats become ``null``.
    """
    text = json.dumps(_finite(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return "".join(_SCRIPT_ESCAPES.get(ch, ch) for ch in text)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


@lru_cache(maxsize=1)
def circuitsvis_bundle() -> str:
    """The installed circuitsvis ``dist/cdn/iife.js``, made safe to inline in a classic ``<script>``.

    ``</script`` inside its string literals becomes ``<\\/script`` (the same string) and the source
    map comment is dropped (the map is not shipped in the page).
    """
    import re

    import circuitsvis

    path = Path(circuitsvis.__file__).parent / "dist" / "cdn" / "iife.js"
    if not path.is_file():
        raise FileNotFoundError(f"the circuitsvis bundle {path} is missing; reinstall circuitsvis (pip install circuitsvis)")
    source = path.read_text(encoding="utf-8")
    source = re.sub(r"</(script)", r"<\\/\1", source, flags=re.IGNORECASE)
    source = re.sub(r"^//# sourceMappingURL=.*$", "", source, flags=re.MULTILINE)
    if "<!--" in source:
        raise RuntimeError(f"{path} contains '<!--', which cannot be inlined safely in a <script>")
    return source


@dataclass(frozen=True)
class Component:
    """One circuitsvis React component: ``name`` of an export of ``CircuitsVis`` and its ``props``."""

    name: str
    props: dict[str, Any]

    def html(self) -> str:
        """A container ``div`` and the classic script rendering into it (needs the bundle loaded)."""
        if not self.name.isidentifier():
            raise ValueError(f"invalid circuitsvis component name {self.name!r}")
        element = f"cv-{uuid.uuid4().hex[:8]}-{next(_ids)}"
        return (f'<div id="{element}" class="cv-component" data-component="{self.name}"></div>'
                f'<script>CircuitsVis.render("{element}",CircuitsVis.{self.name},{script_json(self.props)});</script>')


Block = str | Component


@dataclass
class View:
    """A titled visualisation: trusted HTML blocks and circuitsvis components, plus its ``data``.

    ``save()`` writes a standalone offline page; in Jupyter the view displays inline
    (``_repr_html_``). ``data`` holds the numbers shown (for tests and further use).
    """

    blocks: list[Block] | str = field(default_factory=list)
    title: str = "tl-reasoning view"
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.blocks, str):
            self.blocks = [self.blocks]
        else:
            self.blocks = list(self.blocks)

    @classmethod
    def from_circuitsvis(cls, rendered: Any, title: str, data: dict[str, Any] | None = None) -> View:
        """Wrap a circuitsvis ``RenderedHTML`` (its inlined source: one 1.3 MB bundle per call)."""
        return cls([rendered.local_src], title, data or {})

    @property
    def components(self) -> list[Component]:
        return [b for b in self.blocks if isinstance(b, Component)]

    @property
    def fragment(self) -> str:
        """The view's body: HTML plus render scripts (the bundle must be loaded before it)."""
        parts = [b.html() if isinstance(b, Component) else b for b in self.blocks]
        return "\n".join(parts)

    def section(self, heading_level: int = 3) -> str:
        """The body with its escaped title as a heading."""
        level = min(max(heading_level, 1), 6)
        return f"<h{level}>{html.escape(self.title)}</h{level}>\n{self.fragment}"

    @property
    def html(self) -> str:
        """A complete offline HTML document."""
        return page_html([self.section()], title=self.title, bundle=bool(self.components))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the standalone page to ``path`` (parent folders created) and return the path."""
        return write_text_atomic(path, self.html)

    def _repr_html_(self) -> str:
        bundle = f"<script>{circuitsvis_bundle()}</script>\n" if self.components else ""
        return f"<div class='tlr-view'>{_STYLE}{bundle}{self.section(4)}</div>"

    def __repr__(self) -> str:
        return f"View({self.title!r}, {len(self.blocks)} blocks, {len(self.components)} circuitsvis components)"


_STYLE = """<style>
.tlr-view, body.tlr { font-family: system-ui, -apple-system, Segoe UI, sans-serif; font-size: 14px; }
.tlr-meta { color: #555; font-size: 12px; margin: 6px 0 0 0; }
.tlr-table { border-collapse: collapse; margin: 4px 0; }
.tlr-table td, .tlr-table th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
.tlr-tok { white-space: pre; font-family: ui-monospace, monospace; border-radius: 2px; }
.tlr-text { white-space: pre-wrap; font-family: ui-monospace, monospace; line-height: 1.5; }
.tlr-word { background: #ffe08a; }
.tlr-steered { border-bottom: 2px solid #d9534f; }
.tlr-cols { display: flex; gap: 16px; } .tlr-cols > div { flex: 1; min-width: 0; }
</style>"""


def page_html(sections: Iterable[str], *, title: str, bundle: bool = True, head: str = "",
              body_class: str = "tlr") -> str:
    """A standalone HTML page around trusted ``sections``; ``bundle`` inlines circuitsvis once."""
    script = f"<script>{circuitsvis_bundle()}</script>\n" if bundle else ""
    body = "\n".join(sections)
    return ("<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title>\n{_STYLE}\n{head}{script}</head>"
            f"<body class='{body_class}'>\n{body}\n</body></html>\n")


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file (parent folders created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target


def cv_tokens(tokens: Iterable[Any]) -> list[str]:
    """Token strings for circuitsvis token components, HTML-escaped.

    circuitsvis ``ColoredTokens`` inserts each token as HTML (``innerHTML``), so a token such as
    ``<img onerror=...>`` would run; escaped, it shows as the text it is.
    """
    return [html.escape(str(t), quote=False) for t in tokens]


def esc(value: Any) -> str:
    """HTML-escaped ``str(value)`` (quotes included)."""
    return html.escape(str(value), quote=True)


def table(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None) -> str:
    """An escaped HTML table."""
    head = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table class='tlr-table'>{head}{body}</table>"
