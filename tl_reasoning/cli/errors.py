"""One-line messages for exceptions that reach the command line (see docs/errors.md)."""

from __future__ import annotations

__all__ = ["EXPECTED", "one_line"]

#: Exceptions tl-reasoning raises on purpose with a message that names the problem and the fix;
#: they are printed as their message alone. Anything else is printed with its class name.
EXPECTED: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, KeyError, NotImplementedError,
                                             PermissionError, IsADirectoryError, NotADirectoryError, TimeoutError)

_DEBUG_HINT = "rerun with --debug for the traceback"


def _translate(exc: BaseException) -> str | None:
    """A clearer message for well-known foreign exceptions, or ``None``."""
    name = type(exc).__name__
    text = str(exc)
    if name == "SafetensorError" or "deserializing header" in text:
        return (f"a file is not a valid safetensors file ({text}); pass the file written by `tl-reasoning score` "
                "(stats.safetensors) or SAE.save_model (sae_weights.safetensors)")
    if isinstance(exc, OSError) and getattr(exc, "errno", None) == 28:  # ENOSPC
        return f"no space left on the device ({exc.filename or 'output'}); free some space or write elsewhere"
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or text}; choose a path you can write to"
    if isinstance(exc, KeyError):
        return text.strip("'\"")
    return None


def one_line(exc: BaseException) -> str:
    """``exc`` as a single line: its message (expected classes) or ``Class: message`` plus a --debug hint."""
    message = _translate(exc)
    if message is None:
        text = str(exc) or repr(exc)
        message = text if isinstance(exc, EXPECTED) else f"{type(exc).__name__}: {text} ({_DEBUG_HINT})"
    return " ".join(message.split())
