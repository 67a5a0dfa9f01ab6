"""nnsight's ``RemoteBackend`` with a deadline per request.

nnsight's blocking client waits on the websocket forever: it catches its own receive timeouts to
redraw the status line. This subclass checks a deadline each time that happens (every 0.1 s with
the status line, else at the websocket default timeout that :meth:`RemoteTarget.running` sets) and
raises :class:`TimeoutError`, which :func:`~tl_reasoning.remote.errors.remote_errors` reports as
:class:`~tl_reasoning.remote.errors.RemoteTimeoutError`. Nothing else of the protocol changes.
"""

from __future__ import annotations

import time
from typing import Any

from nnsight.intervention.backends.remote import RemoteBackend

__all__ = ["TimedRemoteBackend"]


class TimedRemoteBackend(RemoteBackend):
    """A ``RemoteBackend`` whose blocking requests fail after ``deadline`` seconds."""

    def __init__(self, *args: Any, deadline: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = float(deadline)
        self._started = time.monotonic()
        redraw = self.display.refresh

        def refresh_or_expire() -> None:
            waited = time.monotonic() - self._started
            if waited > self.deadline:
                raise TimeoutError(f"the request did not complete in {self.deadline:g} s (timed out)")
            redraw()

        self.display.refresh = refresh_or_expire  # type: ignore[method-assign]

    def request(self, request: Any, tracer: Any) -> Any:
        self._started = time.monotonic()
        return super().request(request, tracer)
