"""The ``--remote [HOST]`` command-line options shared by ``score`` and ``steer``."""

from __future__ import annotations

import argparse
from typing import Any

from tl_reasoning.cli.argtypes import positive_int, timeout_seconds
from tl_reasoning.remote.target import DEFAULT_REMOTE_TIMEOUT, RemoteTarget, resolve_remote

__all__ = ["add_remote_arguments", "remote_from_args"]


def add_remote_arguments(parser: argparse.ArgumentParser, *, scoring: bool = False) -> None:
    """Add ``--remote [HOST]``, ``--remote-model-key``, ``--remote-timeout`` (+ scoring's mode options)."""
    group = parser.add_argument_group("remote execution (nnsight models on NDIF or another server)")
    group.add_argument("--remote", nargs="?", const="ndif", default=None, metavar="HOST",
                       help="run the model remotely: no value = NDIF (API key from `nnsight login` or "
                            "NDIF_API_KEY), 'local' = nnsight's local simulation, or http(s)://host")
    group.add_argument("--remote-model-key", default=None,
                       help="the server's model key (default: nnsight's key of the Hub id)")
    group.add_argument("--remote-timeout", type=timeout_seconds, default=None, metavar="SECONDS",
                       help=f"seconds one request may take (default {DEFAULT_REMOTE_TIMEOUT:g}; raise it for long jobs)")
    if scoring:
        group.add_argument("--remote-mode", default="auto", choices=("auto", "residuals", "server"),
                           help="download residuals and encode locally, or accumulate on the server (auto: by bytes)")
        group.add_argument("--remote-dtype", default=None, help="bfloat16 halves the bytes moved")
        group.add_argument("--remote-batches", type=positive_int, default=8,
                           help="batches per request (keep each request under the server's time limit; default 8)")


def remote_from_args(args: argparse.Namespace) -> RemoteTarget | None:
    """The :class:`RemoteTarget` the options ask for, or ``None`` to run locally."""
    value: Any = getattr(args, "remote", None)
    if value is None:
        return None
    if value == "ndif":
        value = True
    if getattr(args, "backend", None) not in (None, "auto", "nnsight"):
        raise ValueError(f"--remote needs the nnsight backend, not --backend {args.backend}")
    args.backend = "nnsight"
    return resolve_remote(value, model_key=args.remote_model_key, timeout=args.remote_timeout)
