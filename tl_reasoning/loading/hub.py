"""Fast, clear failure when a Hugging Face Hub artifact is needed but cannot be fetched.

huggingface_hub retries unreachable hosts with back-off (about 24 s for one SAE). Before any
download we probe the endpoint once; if it cannot be reached, downloads run in cache-only mode
(a cached copy still loads) and a miss raises :class:`ArtifactUnavailableError` that names the
artifact and how to provide it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TypeVar
from urllib.parse import urlparse

__all__ = ["ArtifactUnavailableError", "hub_reachable", "offline_if_unreachable", "fetch_or_explain"]

T = TypeVar("T")


class ArtifactUnavailableError(RuntimeError):
    """A remote artifact is neither cached nor downloadable right now."""


@lru_cache(maxsize=4)
def hub_reachable(endpoint: str | None = None, timeout: float = 3.0) -> bool:
    """One TCP connection attempt to the Hub endpoint (cached for the process)."""
    import huggingface_hub.constants as hf_constants

    if hf_constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(endpoint or hf_constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


@contextmanager
def offline_if_unreachable() -> Iterator[bool]:
    """Run the block in huggingface_hub's cache-only mode when the Hub cannot be reached.

    Yields whether the Hub is reachable.
    """
    import huggingface_hub.constants as hf_constants

    reachable = hub_reachable()
    if reachable:
        yield True
        return
    previous = hf_constants.HF_HUB_OFFLINE
    hf_constants.HF_HUB_OFFLINE = True
    try:
        yield False
    finally:
        hf_constants.HF_HUB_OFFLINE = previous


def fetch_or_explain(what: str, fetch: Callable[[], T], hint: str) -> T:
    """Call ``fetch`` (a download or hub-backed load); on a cache miss while offline, explain."""
    with offline_if_unreachable() as reachable:
        try:
            return fetch()
        except Exception as exc:
            if reachable or not _is_offline_miss(exc):
                raise
            raise ArtifactUnavailableError(
                f"{what} is not in the local Hugging Face cache and the Hub cannot be reached "
                f"(offline or HF_HUB_OFFLINE=1). {hint}"
            ) from exc


def _is_offline_miss(exc: BaseException) -> bool:
    names = {type(e).__name__ for e in _chain(exc)}
    return bool(names & {"LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectError", "ConnectionError",
                         "EntryNotFoundError", "OSError", "gaierror", "FileNotFoundError"})


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__
