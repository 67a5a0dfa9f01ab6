"""How many CPU threads torch uses: ``--threads`` > the user's OMP/MKL variables > a rule by model size.

Why: torch starts one thread per core. A tiny model such as the 1M-parameter organism gains nothing
from a second thread (each matrix is too small to split) but pays for synchronising it, and on a busy
machine the second thread waits for a core: measured on a 2-core machine running another job, the
organism generating 4 x 64 tokens took 65 s on torch's 2 threads and 3 s on one thread. Large models
(tens of millions of parameters and up) do profit from every core, so they keep torch's default.

Nothing happens at import: the CLI calls :func:`apply_thread_policy` once a model is loaded (its
parameter count is known then), and :func:`tl_reasoning.demo.run_demo` does the same.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["SMALL_MODEL_PARAMETERS", "THREAD_ENV_VARS", "ThreadChoice", "apply_thread_policy", "choose_threads",
           "count_parameters", "user_thread_variable"]

#: Models with fewer parameters than this run on one CPU thread unless the user says otherwise.
SMALL_MODEL_PARAMETERS = 50_000_000
#: Environment variables by which a user sets the thread count; if one is set, torch is left alone.
THREAD_ENV_VARS: tuple[str, ...] = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class ThreadChoice:
    """The decision: ``threads`` to set (``None``: leave torch as it is) and why."""

    threads: int | None
    reason: str


def user_thread_variable(env: Mapping[str, str] | None = None) -> str | None:
    """``"NAME=value"`` of the first thread variable set (non-empty) in ``env`` (default ``os.environ``)."""
    env = os.environ if env is None else env
    for name in THREAD_ENV_VARS:
        value = env.get(name, "").strip()
        if value:
            return f"{name}={value}"
    return None


def choose_threads(
    n_parameters: int | None,
    *,
    requested: int | None = None,
    env: Mapping[str, str] | None = None,
    device: str | None = "cpu",
) -> ThreadChoice:
    """The thread count for a model of ``n_parameters`` on ``device``; pure (sets nothing).

    Precedence: ``requested`` (``--threads``) > a thread variable in ``env`` (then torch is left
    alone: it already read the variable) > a model not on the CPU (left alone) > fewer than
    :data:`SMALL_MODEL_PARAMETERS` parameters: 1 thread > torch's default (left alone).
    """
    if requested is not None:
        if requested < 1:
            raise ValueError(f"--threads must be >= 1, got {requested}")
        return ThreadChoice(requested, f"--threads {requested}")
    variable = user_thread_variable(env)
    if variable is not None:
        return ThreadChoice(None, f"{variable} set by the user")
    if device is not None and not str(device).startswith("cpu"):
        return ThreadChoice(None, f"model on {device}")
    if n_parameters is not None and n_parameters < SMALL_MODEL_PARAMETERS:
        return ThreadChoice(1, f"small model ({n_parameters / 1e6:.1f}M parameters)")
    size = "model size unknown" if n_parameters is None else f"{n_parameters / 1e6:.0f}M parameters"
    return ThreadChoice(None, f"torch default ({size})")


def _module(model: Any) -> Any:
    """The ``torch.nn.Module`` holding ``model``'s weights (nnsight 0.8 keeps it in ``_module``), or ``None``."""
    import torch

    if isinstance(model, torch.nn.Module):
        return model
    for name in ("_module", "_model", "model"):
        try:
            candidate = getattr(model, name, None)
        except Exception:  # proxies (nnsight) may raise anything on attribute access
            continue
        if isinstance(candidate, torch.nn.Module):
            return candidate
    return None


def count_parameters(model: Any) -> int | None:
    """Number of distinct parameters of ``model`` (tied weights counted once), ``None`` if unknown."""
    module = _module(model)
    if module is None:
        return None
    return sum({id(p): p.numel() for p in module.parameters()}.values())


def _device(model: Any) -> str | None:
    module = _module(model)
    if module is None:
        return None
    for parameter in module.parameters():
        return str(parameter.device)
    return None


def apply_thread_policy(
    model: Any = None,
    *,
    threads: int | None = None,
    env: Mapping[str, str] | None = None,
) -> ThreadChoice:
    """Decide with :func:`choose_threads` for ``model`` (``None``: only ``threads`` and ``env`` count)
    and call ``torch.set_num_threads`` when the decision names a count; returns the decision."""
    n_parameters = count_parameters(model) if model is not None else None
    device = _device(model) if model is not None else None
    choice = choose_threads(n_parameters, requested=threads, env=env, device=device)
    if choice.threads is not None:
        import torch

        if torch.get_num_threads() != choice.threads:
            torch.set_num_threads(choice.threads)
    return choice
