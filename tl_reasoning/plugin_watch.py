"""A watchdog naming a plugin whose import takes long (so a blocking plugin never hangs silently)."""

from __future__ import annotations

import os
import sys
import threading

__all__ = ["DEFAULT_WARN_SECONDS", "slow_import_watchdog"]

DEFAULT_WARN_SECONDS = 10.0


def _warn_seconds(env: str) -> float:
    try:
        value = float(os.environ.get(env, DEFAULT_WARN_SECONDS))
    except ValueError:
        return DEFAULT_WARN_SECONDS
    return value if value > 0 else DEFAULT_WARN_SECONDS


def slow_import_watchdog(name: str, dist: str, block_env: str, seconds_env: str) -> threading.Timer:
    """A started timer that prints, after ``$seconds_env`` seconds (default 10), which plugin is loading
    and how to skip it; ``cancel()`` it when the import returns."""

    def warn() -> None:
        sys.stderr.write(f"tl-reasoning: loading plugin {name!r} (from {dist}) is taking long; "
                         f"set {block_env}={name} to skip it\n")
        sys.stderr.flush()

    timer = threading.Timer(_warn_seconds(seconds_env), warn)
    timer.daemon = True
    timer.start()
    return timer
