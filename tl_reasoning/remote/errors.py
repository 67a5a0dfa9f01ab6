"""Errors of remote (NDIF) execution, with messages that say what to do — and never the API key.

nnsight raises generic exceptions for remote failures (``RemoteError`` with the server's text,
websocket and httpx exceptions). :func:`remote_errors` turns them into the classes below, with the
host in the message and every occurrence of the API key replaced by ``***``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "MissingAPIKeyError", "ModelNotHostedError", "RemoteAuthError", "RemoteConnectionError",
    "RemoteExecutionError", "RemoteServerError", "RemoteTimeoutError", "RemoteVersionError", "redact",
    "remote_errors",
]


class RemoteExecutionError(RuntimeError):
    """Base class of every remote-execution failure."""


class MissingAPIKeyError(RemoteExecutionError):
    """``remote=True`` without an NDIF API key."""


class RemoteAuthError(RemoteExecutionError):
    """The server refused the API key."""


class RemoteConnectionError(RemoteExecutionError):
    """The host could not be reached, or the connection dropped."""


class RemoteTimeoutError(RemoteExecutionError):
    """No answer within the time limit."""


class RemoteServerError(RemoteExecutionError):
    """The job failed on the server (its traceback is in the message)."""


class ModelNotHostedError(RemoteExecutionError):
    """The server does not host the requested model."""


class RemoteVersionError(RemoteExecutionError):
    """Client and server versions (nnsight or Python) do not match."""


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` (the API key) replaced by ``***``."""
    if secret:
        text = text.replace(secret, "***")
    return re.sub(r"(ndif-api-key['\"]?\s*[:=]\s*['\"]?)[^'\",\s}]+", r"\1***", text, flags=re.IGNORECASE)


def _classify(exc: BaseException, host: str, model_key: str) -> RemoteExecutionError:
    name = type(exc).__name__
    text = str(exc)
    low = text.lower()
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403) or "api key" in low or "api-key" in low or "unauthori" in low:
        return RemoteAuthError(f"{host} refused the NDIF API key (HTTP {status or 'error'}): {text}. Check the key "
                               "(nnsight login, NDIF_API_KEY) at https://login.ndif.us")
    if "version" in low and ("nnsight" in low or "python" in low):
        return RemoteVersionError(f"client and server versions do not match on {host}: {text}. Install the "
                                  "nnsight (and Python) version the server asks for")
    if ("not hosted" in low or "not deployed" in low or "not found" in low and "model" in low
            or "no model" in low):
        return ModelNotHostedError(f"{host} does not host the model {model_key!r}: {text}. See nnsight.status() "
                                   "or https://nnsight.net/status/ for the hosted models")
    if "timeout" in name.lower() or "timed out" in low or isinstance(exc, TimeoutError):
        return RemoteTimeoutError(f"no answer from {host} in time ({name}: {text}); use fewer batches per "
                                  "request (remote_batches) or a longer timeout")
    if name == "RemoteError":
        if low.startswith("failed to send request"):
            return RemoteConnectionError(f"cannot reach {host}: {text}")
        return RemoteServerError(f"the job failed on {host}: {text}")
    if isinstance(exc, (ConnectionError, OSError)) or "connection" in name.lower() or "websocket" in name.lower() \
            or "connect" in low:
        return RemoteConnectionError(f"cannot reach {host} or the connection dropped ({name}: {text}); check the "
                                     "host URL and your network")
    return RemoteServerError(f"remote execution on {host} failed ({name}: {text})")


@contextmanager
def remote_errors(host: str, model_key: str = "", api_key: str | None = None) -> Iterator[None]:
    """Translate exceptions raised by remote execution into :class:`RemoteExecutionError` subclasses."""
    try:
        yield
    except RemoteExecutionError:
        raise
    except Exception as exc:
        if type(exc).__module__.startswith(("tl_reasoning.", "builtins")) and not _is_remote(exc):
            raise
        err = _classify(exc, host, model_key)
        raise type(err)(redact(str(err), api_key)) from None


def _is_remote(exc: BaseException) -> bool:
    """Builtin exceptions that come from the transport (not from our own code)."""
    return isinstance(exc, (ConnectionError, TimeoutError, OSError))
