"""Choosing the remote scoring mode by bytes moved (ndif.md §7).

``residuals``: download the counted residuals (``N · d · b`` bytes per request) and encode locally.
``server``: upload the encoder (``d · F · b``) and download only aggregates (≈ ``(W + 8) · F · 8``
bytes). Shipping the encoder pays once it is smaller than the residuals of one request, i.e. for
``N > F`` tokens per request — unless the encoder exceeds the upload cap (request size on NDIF is
unbounded in public code but every request is pickled into Redis; 256 MB is a cautious default).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MODES", "DEFAULT_UPLOAD_CAP", "ModeChoice", "choose_mode"]

MODES = ("auto", "residuals", "server")
DEFAULT_UPLOAD_CAP = 256 * 2**20


@dataclass(frozen=True)
class ModeChoice:
    """The chosen mode and the byte estimates behind it."""

    mode: str
    download_residuals: int
    """Bytes of residuals one request would download."""
    upload_encoder: int
    """Bytes of encoder one request would upload."""


def choose_mode(tokens_per_request: int, d_in: int, d_sae: int, bytes_per_value: int = 4, *,
                upload_cap: int = DEFAULT_UPLOAD_CAP, mode: str = "auto") -> ModeChoice:
    """``server`` when the encoder is cheaper to send than the residuals and fits under ``upload_cap``."""
    if mode not in MODES:
        raise ValueError(f"remote_mode={mode!r}: use one of {', '.join(MODES)}")
    down = tokens_per_request * d_in * bytes_per_value
    up = d_in * d_sae * bytes_per_value + 3 * d_sae * 4
    if mode == "auto":
        mode = "server" if up < down and up <= upload_cap else "residuals"
    return ModeChoice(mode, down, up)
