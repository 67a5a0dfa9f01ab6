"""Plugin discovery and the registries built from it.

Plugins are modules or instances published under the entry-point group ``tl_reasoning``;
tl-reasoning's own built-ins are published there too. Nothing is loaded at import: the first
lookup (a scorer name, a backend for a model, ``tl-reasoning plugins``) loads every allowed entry
point once. A plugin that fails to import, fails validation or raises while registering is
recorded with its error and skipped; what it had already registered is rolled back.

Environment:

- ``TL_REASONING_LOAD_PLUGINS``: comma-separated allowlist of third-party plugins (entry-point or
  distribution names). Set but empty: no third-party plugins. Built-ins are always loaded.
- ``TL_REASONING_BLOCK_PLUGINS``: comma-separated names never loaded (built-ins included). Lookups
  of unknown names mention what was blocked.
- ``TL_REASONING_PLUGIN_WARN_SECONDS``: a plugin whose import takes longer than this (default 10)
  is named on stderr, with how to skip it, while it is still loading.

A plugin that raises anything while importing — ``SystemExit`` from a ``sys.exit()`` included, only
``KeyboardInterrupt`` passes — is recorded as failed (``tl-reasoning plugins`` lists it) and skipped.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from tl_reasoning import hookspecs
from tl_reasoning.plugin_watch import slow_import_watchdog
from tl_reasoning.registry import Registry

__all__ = [
    "ARTIFACT_KINDS",
    "BLOCK_ENV",
    "CONTRIBUTION_KINDS",
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "LOAD_ENV",
    "PluginFailure",
    "PluginInfo",
    "WARN_SECONDS_ENV",
    "backend_for",
    "blocked_plugins",
    "get_plugin_manager",
    "get_registry",
    "load_plugins",
    "plugin_report",
    "registered_plugin",
    "reset_plugins",
]

ENTRY_POINT_GROUP = "tl_reasoning"
LOAD_ENV = "TL_REASONING_LOAD_PLUGINS"
BLOCK_ENV = "TL_REASONING_BLOCK_PLUGINS"
WARN_SECONDS_ENV = "TL_REASONING_PLUGIN_WARN_SECONDS"
BUILTIN_DISTRIBUTION = "tl-reasoning"

#: Built-in plugin modules, by entry-point name. They are published as entry points in
#: pyproject.toml; this table is used only when tl-reasoning runs from a source tree that was
#: never installed (no entry points), so a checkout still works.
DEFAULT_PLUGINS: dict[str, str] = {
    "builtin_backends": "tl_reasoning.default_plugins.backends",
    "builtin_scorers": "tl_reasoning.default_plugins.scorers",
    "builtin_interventions": "tl_reasoning.default_plugins.interventions",
    "builtin_visualizations": "tl_reasoning.default_plugins.visualizations",
    "builtin_organism": "tl_reasoning.default_plugins.organism",
    "builtin_explainers": "tl_reasoning.default_plugins.explainers",
}

#: Registry kind -> the registration hook that fills it.
CONTRIBUTION_KINDS: dict[str, str] = {
    "scorer": "tl_reasoning_register_scorers",
    "intervention": "tl_reasoning_register_interventions",
    "visualization": "tl_reasoning_register_visualizations",
    "explainer": "tl_reasoning_register_explainers",
}
ARTIFACT_KINDS: tuple[str, ...] = ("model", "sae", "corpus", "benchmark")


@dataclass
class PluginInfo:
    """A loaded plugin and what it registered."""

    name: str
    distribution: str
    version: str
    builtin: bool
    registered: dict[str, list[str]] = field(default_factory=dict)
    hooks: list[str] = field(default_factory=list)
    """Names of the hooks it implements."""


@dataclass
class PluginFailure:
    """A plugin that was skipped, and why."""

    name: str
    distribution: str
    stage: str
    """``import``, ``validate`` or ``register <kind>``."""
    error: str


def _env_names(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


class _PluginHost:
    """Owns the pluggy manager, the load state and the registries built from it."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.loaded = False
        self.infos: dict[str, PluginInfo] = {}
        self.failures: list[PluginFailure] = []
        self.blocked: list[str] = []
        """Plugins skipped because ``TL_REASONING_BLOCK_PLUGINS`` names them."""
        self._registries: dict[str, Registry] = {}
        self._lock = threading.RLock()

    # -- loading ------------------------------------------------------------------------------
    def load(self) -> None:
        with self._lock:
            if self.loaded:
                return
            self.loaded = True
            allow, block = _env_names(LOAD_ENV), _env_names(BLOCK_ENV) or set()
            eps = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
            have_builtins = any(_dist_name(ep) == BUILTIN_DISTRIBUTION for ep in eps)
            for ep in sorted(eps, key=lambda e: (_dist_name(e) != BUILTIN_DISTRIBUTION, e.name)):
                dist = _dist_name(ep)
                builtin = dist == BUILTIN_DISTRIBUTION
                if ep.name in block or dist in block:
                    self.blocked.append(ep.name)
                    continue
                if self.pm.has_plugin(ep.name):
                    continue
                if not builtin and allow is not None and ep.name not in allow and dist not in allow:
                    continue
                self._register_loaded(ep.name, dist, _dist_version(ep), builtin, ep.load)
            if not have_builtins:
                for name, module in DEFAULT_PLUGINS.items():
                    if name in block:
                        self.blocked.append(name)
                    elif not self.pm.has_plugin(name):
                        self._register_loaded(
                            name, BUILTIN_DISTRIBUTION, _own_version(), True,
                            lambda module=module: importlib.import_module(module),
                        )

    def _register_loaded(
        self, name: str, dist: str, version: str, builtin: bool, load: Callable[[], Any]
    ) -> None:
        watchdog = slow_import_watchdog(name, dist, BLOCK_ENV, WARN_SECONDS_ENV)
        try:
            plugin = load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: a plugin never ends the program
            self.failures.append(PluginFailure(name, dist, "import", _describe(exc)))
            return
        finally:
            watchdog.cancel()
        self.add(plugin, name, dist, version, builtin)

    def add(self, plugin: Any, name: str, dist: str, version: str, builtin: bool) -> None:
        with self._lock:
            try:
                self.pm.register(plugin, name=name)
                self.pm.check_pending()
            except Exception as exc:  # noqa: BLE001 - validation errors isolate this plugin
                if self.pm.has_plugin(name):
                    self.pm.unregister(name=name)
                self.failures.append(PluginFailure(name, dist, "validate", _describe(exc)))
                return
            self.infos[name] = PluginInfo(name, dist, version, builtin)
            self._registries.clear()

    def remove(self, name: str) -> None:
        with self._lock:
            if self.pm.has_plugin(name):
                self.pm.unregister(name=name)
            self.infos.pop(name, None)
            self.failures = [f for f in self.failures if f.name != name]
            self._registries.clear()

    # -- registries ---------------------------------------------------------------------------
    def registry(self, kind: str) -> Registry:
        self.load()
        with self._lock:
            if kind not in self._registries:
                self._build_all()
            return self._registries[kind]

    def _build_all(self) -> None:
        for info in self.infos.values():
            info.registered = {}
        self.failures = [f for f in self.failures if not f.stage.startswith("register")]
        registries = {kind: Registry(kind) for kind in (*CONTRIBUTION_KINDS, *ARTIFACT_KINDS)}
        for kind, hook_name in CONTRIBUTION_KINDS.items():
            self._collect(hook_name, kind, registries, artifact=False)
        self._collect("tl_reasoning_register_artifacts", "artifact", registries, artifact=True)
        self._registries = registries

    def _collect(self, hook_name: str, label: str, registries: dict[str, Registry], artifact: bool) -> None:
        caller = getattr(self.pm.hook, hook_name)
        for impl in caller.get_hookimpls():  # registration order: built-ins first, then third parties
            plugin = impl.plugin_name
            added: list[tuple[str, str]] = []

            def register(*args: Any, _plugin: str = plugin, _added: list = added, **kwargs: Any) -> None:
                if artifact:
                    kind, name, obj, description = _artifact_args(args, kwargs)
                    if kind not in ARTIFACT_KINDS:
                        raise ValueError(
                            f"plugin {_plugin!r} registered an artifact of unknown kind {kind!r}; "
                            f"use one of {', '.join(ARTIFACT_KINDS)}"
                        )
                else:
                    kind = label
                    name, obj, description = _contribution_args(args, kwargs)
                registries[kind].add(name, obj, description, _plugin)
                _added.append((kind, name))

            try:
                impl.function(**({"register": register} if "register" in impl.argnames else {}))
            except Exception as exc:  # noqa: BLE001 - isolate the plugin, roll back its entries
                for kind in {k for k, _ in added}:
                    registries[kind].remove_plugin(plugin)
                info = self.infos.get(plugin)
                self.failures.append(
                    PluginFailure(plugin, info.distribution if info else "?", f"register {label}", _describe(exc))
                )
                continue
            info = self.infos.get(plugin)
            if info is not None:
                for kind, name in added:
                    info.registered.setdefault(kind, []).append(name)


def _contribution_args(args: tuple, kwargs: dict) -> tuple[str, Callable[..., Any], str]:
    params = dict(zip(("name", "fn", "description"), args, strict=False)) | kwargs
    return params["name"], params["fn"], params.get("description", "")


def _artifact_args(args: tuple, kwargs: dict) -> tuple[str, str, Callable[..., Any], str]:
    params = dict(zip(("kind", "name", "loader", "description"), args, strict=False)) | kwargs
    return params["kind"], params["name"], params["loader"], params.get("description", "")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit: the plugin called sys.exit({exc.code!r}) while importing"
    return f"{type(exc).__name__}: {exc}"


def _dist_name(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.metadata["Name"] if dist is not None else "?"


def _dist_version(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.version if dist is not None else "?"


def _own_version() -> str:
    from tl_reasoning._version import __version__

    return __version__


_HOST: _PluginHost | None = None
_HOST_LOCK = threading.Lock()


def _host() -> _PluginHost:
    global _HOST
    with _HOST_LOCK:
        if _HOST is None:
            _HOST = _PluginHost()
        return _HOST


def get_plugin_manager() -> pluggy.PluginManager:
    """The pluggy manager, with every allowed plugin loaded."""
    host = _host()
    host.load()
    return host.pm


def load_plugins() -> None:
    """Load every allowed entry-point plugin now (otherwise done on first use)."""
    _host().load()


def reset_plugins() -> None:
    """Forget every loaded plugin; the next use loads them again (reads the environment anew)."""
    global _HOST
    with _HOST_LOCK:
        _HOST = None


def blocked_plugins() -> list[str]:
    """Plugins that ``TL_REASONING_BLOCK_PLUGINS`` kept from loading (after loading the others)."""
    return (host := _host()).load() or list(host.blocked)


def blocked_note() -> str:
    """``""``, or a sentence naming the blocked plugins, for "not a registered name" errors."""
    blocked = blocked_plugins()
    if not blocked:
        return ""
    return (f" ({BLOCK_ENV} blocks plugin(s) {', '.join(blocked)}, whose names are therefore missing; "
            f"unset {BLOCK_ENV} or remove them from it)")


def get_registry(kind: str) -> Registry:
    """The registry of ``kind`` (``scorer``, ``intervention``, ``visualization``, ``explainer``, ``model``, ``sae``,
    ``corpus``, ``benchmark``), built from every loaded plugin on first use."""
    if kind not in CONTRIBUTION_KINDS and kind not in ARTIFACT_KINDS:
        known = ", ".join((*CONTRIBUTION_KINDS, *ARTIFACT_KINDS))
        raise ValueError(f"unknown registry kind {kind!r}; use one of {known}")
    return _host().registry(kind)


_BACKEND_ATTR = "_tl_reasoning_backend"


def backend_for(model: Any) -> Any:
    """The backend adapter for ``model``, chosen by the ``tl_reasoning_backend`` hook (one per model)."""
    from tl_reasoning.backends.base import Backend

    if isinstance(model, Backend):
        return model
    cached = getattr(model, "__dict__", {}).get(_BACKEND_ATTR)
    if cached is not None:
        return cached
    backend = get_plugin_manager().hook.tl_reasoning_backend(model=model)
    if backend is None:
        raise TypeError(
            f"no backend handles a {type(model).__module__}.{type(model).__qualname__}; supported: "
            "transformer_lens HookedTransformer, TransformerBridge and nnsight models "
            "(load one with tl_reasoning.load_model), or a plugin implementing tl_reasoning_backend"
        )
    with contextlib.suppress(AttributeError, TypeError):
        # one adapter per model, so edits kept on the adapter stay visible; object.__setattr__
        # bypasses nn.Module / nnsight Envoy attribute handling
        object.__setattr__(model, _BACKEND_ATTR, backend)
    return backend


def plugin_report() -> tuple[list[PluginInfo], list[PluginFailure]]:
    """Every loaded plugin with what it registered, and every plugin that failed."""
    host = _host()
    host.load()
    for kind in (*CONTRIBUTION_KINDS, *ARTIFACT_KINDS):
        host.registry(kind)
    for info in host.infos.values():
        plugin = host.pm.get_plugin(info.name)
        callers = host.pm.get_hookcallers(plugin) if plugin is not None else None
        info.hooks = sorted(c.name for c in callers or [])
    return sorted(host.infos.values(), key=lambda i: (not i.builtin, i.name)), list(host.failures)


@contextmanager
def registered_plugin(plugin: Any, name: str | None = None) -> Iterator[str]:
    """Register ``plugin`` (a module or object with ``@hookimpl`` functions) for the block.

    The plugin is unregistered on exit, exceptions included; registries are rebuilt around it.
    Yields the name it was registered under. Validation errors are raised, not recorded.
    """
    host = _host()
    host.load()
    name = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin)}"
    if host.pm.has_plugin(name):
        raise ValueError(f"a plugin named {name!r} is already registered")
    host.pm.register(plugin, name=name)
    try:
        host.pm.check_pending()
    except Exception:
        host.pm.unregister(name=name)
        raise
    host.infos[name] = PluginInfo(name, "(in-process)", "", builtin=False)
    host._registries.clear()
    try:
        yield name
    finally:
        host.remove(name)
