"""Where remote work runs: ``remote=True`` (NDIF), ``"local"`` (nnsight's simulation) or a host URL.

:func:`resolve_remote` turns a user's ``remote=`` value into a :class:`RemoteTarget`, which knows
the keyword arguments to give nnsight's ``trace``/``session``/``generate`` (``remote="local"`` or
an explicit ``RemoteBackend``). The API key comes from the argument, nnsight's config
(``nnsight login``) or ``NDIF_API_KEY``; it is kept out of ``repr`` and messages. The model key is
explicit when given (needed offline and for models that are not Hub ids), else nnsight's own.

Every request has a deadline: ``timeout=`` / ``--remote-timeout`` seconds, by default
:data:`DEFAULT_REMOTE_TIMEOUT` (600 s; raise it for long jobs), so a server that accepts the
connection and never answers fails with :class:`~tl_reasoning.remote.errors.RemoteTimeoutError`
instead of hanging. nnsight's status lines (RECEIVED … RUNNING … COMPLETED) go to stderr while a
remote block runs, so stdout stays machine-readable (``steer --json --remote``).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

from tl_reasoning.remote.errors import MissingAPIKeyError, RemoteExecutionError, remote_errors

__all__ = ["DEFAULT_REMOTE_TIMEOUT", "NDIF_HOST", "RemoteLike", "RemoteTarget", "resolve_remote"]

NDIF_HOST = "https://api.ndif.us"

DEFAULT_REMOTE_TIMEOUT = 600.0
"""Seconds one remote request may take when no timeout is given (queueing included)."""


@dataclass(frozen=True)
class RemoteTarget:
    """A resolved remote destination. ``host=None`` means nnsight's in-process ``"local"`` simulation."""

    host: str | None
    api_key: str | None = field(default=None, repr=False)
    model_key: str | None = None
    timeout: float | None = None
    """Seconds one request may take, queueing included (``None``: no limit, as nnsight;
    :func:`resolve_remote` gives :data:`DEFAULT_REMOTE_TIMEOUT` unless told otherwise)."""

    @property
    def is_local(self) -> bool:
        return self.host is None

    @property
    def label(self) -> str:
        return "local simulation" if self.host is None else self.host

    def trace_kwargs(self, model: Any) -> dict[str, Any]:
        """Keyword arguments for ``model.trace/session/generate`` that send the block to this target."""
        if self.host is None:
            return {"remote": "local"}
        from nnsight.intervention.backends.remote import RemoteBackend

        from tl_reasoning.remote.timed import TimedRemoteBackend

        key = self.model_key or self._model_key_of(model)
        if self.timeout is None:
            return {"backend": RemoteBackend(key, host=self.host, api_key=self.api_key or None)}
        return {"backend": TimedRemoteBackend(key, host=self.host, api_key=self.api_key or None,
                                              deadline=self.timeout)}

    def _model_key_of(self, model: Any) -> str:
        try:
            return str(model.to_model_key())
        except Exception as exc:
            raise RemoteExecutionError(
                f"cannot name this model for {self.host} ({type(exc).__name__}: {exc}); load it by its Hugging Face "
                "id (e.g. meta-llama/Llama-3.1-8B) or pass an explicit model key (model_key=..., --remote-model-key)"
            ) from None

    @contextmanager
    def running(self) -> Iterator[None]:
        """Apply the timeout, send status lines to stderr and translate transport errors while a remote block runs."""
        import websocket

        previous = websocket.getdefaulttimeout()
        if self.timeout is not None:  # wake the receive loop regularly so the deadline is checked
            websocket.setdefaulttimeout(min(1.0, self.timeout))
        try:
            with remote_errors(self.label, self.model_key or "", self.api_key), redirect_stdout(sys.stderr):
                yield
        finally:
            websocket.setdefaulttimeout(previous)


RemoteLike = bool | str | RemoteTarget | None


def _configured_key() -> str | None:
    key = os.environ.get("NDIF_API_KEY")
    if key:
        return key
    try:
        from nnsight import CONFIG

        return CONFIG.API.APIKEY or None
    except Exception:  # pragma: no cover - nnsight without a config
        return None


def resolve_remote(remote: RemoteLike, *, api_key: str | None = None, model_key: str | None = None,
                   timeout: float | None = None) -> RemoteTarget | None:
    """The :class:`RemoteTarget` of ``remote`` (``None``/``False``: run locally, returns ``None``).

    ``True``: NDIF (``NDIF_HOST`` or nnsight's configured host), which needs an API key.
    ``"local"``: nnsight's local simulation. ``"http(s)://host"``: that server (key optional).
    ``timeout``: seconds per request (default :data:`DEFAULT_REMOTE_TIMEOUT`); must be finite and > 0.
    """
    if timeout is None:
        timeout = DEFAULT_REMOTE_TIMEOUT
    elif isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) \
            or timeout <= 0:
        raise ValueError(f"timeout={timeout!r}: give the seconds one remote request may take, a finite number > 0 "
                         f"(default {DEFAULT_REMOTE_TIMEOUT:g})")
    if remote is None or remote is False:
        return None
    if isinstance(remote, RemoteTarget):
        return remote
    if remote == "local":
        return RemoteTarget(None, model_key=model_key)  # in-process: no network, no deadline
    if remote is True or remote == "ndif":
        key = api_key or _configured_key()
        if not key:
            raise MissingAPIKeyError("remote=True runs on NDIF, which needs an API key: get one at "
                                     "https://login.ndif.us, then `nnsight login` or set NDIF_API_KEY")
        from nnsight import CONFIG

        host = os.environ.get("NDIF_HOST") or getattr(CONFIG.API, "HOST", None) or NDIF_HOST
        return RemoteTarget(host, key, model_key, timeout)
    if isinstance(remote, str) and remote.startswith(("http://", "https://")):
        return RemoteTarget(remote.rstrip("/"), api_key or _configured_key(), model_key, timeout)
    raise ValueError(f"remote={remote!r}: use True (NDIF), 'local' (nnsight's simulation) or a URL http(s)://host")
