"""The ``tl-reasoning`` command line: one module per subcommand, each adding its own parser."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tl_reasoning.cli import (
    dashboard_cmd,
    demo_cmd,
    diff_cmd,
    evaluate_cmd,
    figures_cmd,
    inspect_cmd,
    plugins_cmd,
    score_cmd,
    steer_cmd,
    vocab_cmd,
)

__all__ = ["build_parser", "main"]

_COMMANDS = (plugins_cmd, inspect_cmd, score_cmd, vocab_cmd, steer_cmd, evaluate_cmd, diff_cmd, dashboard_cmd,
             figures_cmd, demo_cmd)


def build_parser() -> argparse.ArgumentParser:
    from tl_reasoning._version import __version__

    parser = argparse.ArgumentParser(
        prog="tl-reasoning",
        description="Find, explain and steer the reasoning features of language models with SAEs.",
    )
    parser.add_argument("--version", action="version", version=f"tl-reasoning {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, KeyError, RuntimeError, TypeError) as exc:
        print(f"tl-reasoning {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
