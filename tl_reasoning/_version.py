"""The package version, read from the installed metadata when available."""

from __future__ import annotations

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("tl-reasoning")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.1.0"
