"""Typed name registries filled by plugins through ``register`` callbacks.

One :class:`Registry` per contribution kind. Entries remember the plugin that registered them
(provenance for ``tl-reasoning plugins``), and a second registration of a name is refused with an
error naming both plugins rather than silently renamed: names are typed into configs and CLIs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["DuplicateNameError", "Entry", "Registry", "UnknownNameError"]


class DuplicateNameError(ValueError):
    """Two plugins registered the same name for the same kind."""


class UnknownNameError(KeyError):
    """A name was looked up that no plugin registered."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Entry:
    """One registered contribution."""

    kind: str
    """``scorer``, ``intervention``, ``visualization``, ``explainer``, ``model``, ``sae``, ``corpus`` or ``benchmark``."""
    name: str
    obj: Callable[..., Any]
    """The scorer function, intervention factory, visualisation function or artifact loader."""
    description: str
    plugin: str
    """Name of the plugin that registered it."""


class Registry:
    """Names of one kind mapped to entries; duplicate names are an error."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, obj: Callable[..., Any], description: str, plugin: str) -> Entry:
        if not isinstance(name, str) or not name:
            raise ValueError(f"plugin {plugin!r} registered a {self.kind} with an invalid name {name!r}")
        if not callable(obj):
            raise TypeError(f"plugin {plugin!r} registered {self.kind} {name!r} with a non-callable {obj!r}")
        if name in self._entries:
            first = self._entries[name].plugin
            raise DuplicateNameError(
                f"{self.kind} {name!r} is registered by two plugins: {first!r} and {plugin!r}; "
                f"uninstall or block one of them (TL_REASONING_BLOCK_PLUGINS)"
            )
        entry = Entry(self.kind, name, obj, description or "", plugin)
        self._entries[name] = entry
        return entry

    def remove_plugin(self, plugin: str) -> None:
        """Drop everything ``plugin`` registered (used to roll back a failed registration)."""
        self._entries = {n: e for n, e in self._entries.items() if e.plugin != plugin}

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; registered {self.kind}s: {self.known()}. "
                f"Run `tl-reasoning plugins` to see what each plugin provides."
            ) from None

    def known(self) -> str:
        """The registered names for an error message, or ``none``, naming plugins that were blocked."""
        from tl_reasoning.plugins import blocked_note

        return (", ".join(sorted(self._entries)) or "none") + blocked_note()

    def names(self) -> list[str]:
        return sorted(self._entries)

    def by_plugin(self, plugin: str) -> list[str]:
        return sorted(n for n, e in self._entries.items() if e.plugin == plugin)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries[n] for n in sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
