"""The command line's one validation layer for numbers: argparse ``type=`` helpers.

Each helper parses one option value and raises :class:`argparse.ArgumentTypeError` naming what is
expected, so a bad value (``nan``, ``inf``, ``-1``, ``0`` where a count is needed) is refused before
anything loads, with one line such as ``tl-reasoning steer: error: argument --strength: expected a
finite number such as 2.0, got 'nan'``. Every subcommand uses them (``type=finite_float`` …).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

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


def _bounded(name: str, parse: Callable[[str, str], Any], expected: str, ok: Callable[[Any], bool]) -> Callable[[str], Any]:
    """A ``type=`` converter: ``parse`` the text, then refuse values for which ``ok`` is false."""

    def convert(text: str) -> Any:
        value = parse(text, expected)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    convert.__name__ = convert.__qualname__ = name
    convert.__doc__ = f"{expected[0].upper()}{expected[1:]}."
    return convert


positive_float = _bounded("positive_float", _float, "a finite number > 0", lambda v: v > 0)
nonnegative_float = _bounded("nonnegative_float", _float, "a finite number >= 0", lambda v: v >= 0)
probability = _bounded("probability", _float, "a probability in (0, 1]", lambda v: 0 < v <= 1)
temperature = _bounded("temperature", _float, "a temperature > 0 (leave the option out for greedy decoding)",
                       lambda v: v > 0)
timeout_seconds = _bounded("timeout_seconds", _float, "a number of seconds > 0", lambda v: v > 0)
positive_int = _bounded("positive_int", _int, "a whole number >= 1", lambda v: v >= 1)
nonnegative_int = _bounded("nonnegative_int", _int, "a whole number >= 0", lambda v: v >= 0)


def int_list(text: str, what: str) -> list[int]:
    """Comma-separated integers (``"12,34"``) for option ``what``; a one-line error otherwise."""
    try:
        return [int(p) for p in (s.strip() for s in text.split(",")) if p]
    except ValueError:
        raise ValueError(f"{what} takes comma-separated integers, got {text!r}") from None


def float_list(text: str, what: str) -> list[float]:
    """Comma-separated finite numbers (``"-4,0,4"``) for option ``what``; a one-line error otherwise."""
    try:
        values = [float(p) for p in (s.strip() for s in text.split(",")) if p]
    except ValueError:
        raise ValueError(f"{what} takes comma-separated numbers, got {text!r}") from None
    if any(v != v or abs(v) == float("inf") for v in values):
        raise ValueError(f"{what} takes finite numbers, got {text!r}")
    return values
