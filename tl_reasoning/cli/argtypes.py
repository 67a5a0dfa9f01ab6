"""The command line's one validation layer for numbers: argparse ``type=`` helpers.

Each helper parses one option value and raises :class:`argparse.ArgumentTypeError` naming what is
expected, so a bad value (``nan``, ``inf``, ``-1``, ``0`` where a count is needed) is refused before
anything loads, with one line such as ``tl-reasoning steer: error: argument --strength: expected a
finite number such as 2.0, got 'nan'``. Every subcommand uses them (``type=finite_float`` …).
"""

from __future__ import annotations

import argparse
import math

__all__ = [
    "finite_float", "nonnegative_float", "nonnegative_int", "positive_float", "positive_int", "probability",
    "temperature", "timeout_seconds",
]


def _float(text: str, expected: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r} (NaN and infinity are refused)")
    return value


def _int(text: str, expected: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def finite_float(text: str) -> float:
    """Any finite number (refuses ``nan``, ``inf``, ``-inf``)."""
    return _float(text, "a finite number such as 2.0")


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _float(text, "a finite number > 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _float(text, "a finite number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def probability(text: str) -> float:
    """A probability in (0, 1]."""
    value = _float(text, "a probability in (0, 1]")
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a probability in (0, 1], got {text!r}")
    return value


def temperature(text: str) -> float:
    """A sampling temperature: a finite number > 0 (leave the option out for greedy decoding)."""
    value = _float(text, "a temperature > 0 (leave the option out for greedy decoding)")
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a temperature > 0 (leave the option out for greedy decoding), got {text!r}")
    return value


def timeout_seconds(text: str) -> float:
    """Seconds to wait: a finite number > 0."""
    value = _float(text, "a number of seconds > 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    value = _int(text, "a whole number >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """A whole number >= 0."""
    value = _int(text, "a whole number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value
