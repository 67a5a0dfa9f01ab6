"""The ``tl-reasoning`` command line: one module per subcommand, each adding its own parser.

Errors: a bad option value is refused by the parser (:mod:`tl_reasoning.cli.argtypes`), exit 2; an
error while running prints one line ``tl-reasoning COMMAND: error: ...`` and exits 1 (130 on
Ctrl-C). ``--debug`` (before or after the command) shows the traceback instead. See docs/errors.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from tl_reasoning.cli import (
    dashboard_cmd,
    demo_cmd,
    diff_cmd,
    evaluate_cmd,
    export_cmd,
    figures_cmd,
    inspect_cmd,
    interpret_cmd,
    plugins_cmd,
    score_cmd,
    steer_cmd,
    validate_cmd,
    vocab_cmd,
)
from tl_reasoning.cli.argtypes import positive_int

__all__ = ["DEBUG_HELP", "THREADS_HELP", "build_parser", "main"]

DEBUG_HELP = "on an error, show the full Python traceback instead of the one-line message"

THREADS_HELP = ("CPU threads torch uses (before or after the command). Default: OMP_NUM_THREADS / MKL_NUM_THREADS "
                "if set, else 1 for a model under 50M parameters (e.g. the organism: faster, and no stalls on a "
                "shared machine), else torch's default (one per core)")

_COMMANDS = (plugins_cmd, inspect_cmd, score_cmd, vocab_cmd, steer_cmd, evaluate_cmd, diff_cmd, dashboard_cmd,
             figures_cmd, demo_cmd, validate_cmd, interpret_cmd, export_cmd)


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line naming the option and where to look."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from tl_reasoning._version import __version__

    parser = _Parser(
        prog="tl-reasoning",
        description="Find, explain and steer the reasoning features of language models with SAEs.",
    )
    parser.add_argument("--version", action="version", version=f"tl-reasoning {__version__}")
    parser.add_argument("--threads", type=positive_int, default=None, metavar="N", help=THREADS_HELP)
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(sub)
    for subparser in {id(p): p for p in sub.choices.values()}.values():
        # SUPPRESS: a subcommand without --threads keeps the value given before the subcommand
        subparser.add_argument("--threads", type=positive_int, default=argparse.SUPPRESS, metavar="N",
                               help=THREADS_HELP)
        subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.threads is not None:  # before anything loads; commands apply the automatic rule per model
            from tl_reasoning.threads import apply_thread_policy

            apply_thread_policy(threads=args.threads)
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except BaseException as exc:
        if getattr(args, "debug", False):
            raise
        from tl_reasoning.cli.errors import one_line

        print(f"tl-reasoning {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
