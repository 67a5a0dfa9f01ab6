"""``tl-reasoning-lm-eval``: lm-eval's own command line with the ``tl-reasoning`` model type registered.

lm-eval 0.4 does not discover third-party model types, so ``lm_eval --model tl-reasoning`` cannot
find ours; this command registers it and hands every argument to lm-eval unchanged (``--model``
defaults to ``tl-reasoning``)::

    tl-reasoning-lm-eval --model_args model=organism,sae=organism,features=12;34,strength=2 \\
        --tasks mytask --include_path tasks/

One extra subcommand writes tl-reasoning data as offline lm-eval tasks::

    tl-reasoning-lm-eval export-task --benchmark organism --out tasks/ --limit 50
    tl-reasoning-lm-eval export-task --corpus organism:reasoning --out tasks/ --limit 20
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

_LM_EVAL_SUBCOMMANDS = ("run", "ls", "validate")


def _export(argv: Sequence[str]) -> int:
    from tl_reasoning_lm_eval.tasks import DEFAULT_ANSWER_REGEX, export_benchmark_task, export_corpus_task

    parser = argparse.ArgumentParser(
        prog="tl-reasoning-lm-eval export-task",
        description="Write a tl-reasoning benchmark (generate_until, exact match) or corpus (perplexity) as an "
                    "lm-eval task: NAME.yaml and NAME.jsonl in --out; run it with --include_path OUT --tasks NAME.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--benchmark", help="registered benchmark name (e.g. organism)")
    source.add_argument("--corpus", help="registered corpus or local file (e.g. organism:reasoning)")
    parser.add_argument("--out", required=True, help="folder for the task YAML and data file")
    parser.add_argument("--name", help="task name (default tlr_<source>)")
    parser.add_argument("--split", help="split of the benchmark or corpus")
    parser.add_argument("--limit", type=int, help="export only the first N items")
    parser.add_argument("--max-gen-toks", type=int, default=320,
                        help="benchmark: new tokens per item (default 320: above the organism's longest answer and "
                        "inside its 512-token context; real reasoning models need thousands)")
    parser.add_argument("--until", action="append", help="benchmark: stop sequence (repeat; default '\\nQuestion:')")
    parser.add_argument("--answer-regex", default=DEFAULT_ANSWER_REGEX, help="benchmark: regex whose first group is "
                        "the answer")
    args = parser.parse_args(list(argv))
    if args.benchmark:
        path = export_benchmark_task(args.benchmark, args.out, name=args.name, split=args.split, limit=args.limit,
                                     max_gen_toks=args.max_gen_toks, until=args.until or ("\nQuestion:",),
                                     answer_regex=args.answer_regex)
    else:
        path = export_corpus_task(args.corpus, args.out, name=args.name, split=args.split, limit=args.limit)
    print(f"wrote {path} (task {path.stem}); run: tl-reasoning-lm-eval --model_args model=... "  # noqa: T201
          f"--include_path {path.parent} --tasks {path.stem}")
    return 0


def lm_eval_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` for lm-eval's CLI with ``--model tl-reasoning`` added to runs that name no model."""
    from tl_reasoning_lm_eval import MODEL_TYPE

    args = list(argv)
    is_run = not args or args[0] == "run" or args[0].startswith("-")
    named = any(a in ("--model", "-M") or a.startswith("--model=") for a in args)
    if is_run and not named and not {"-h", "--help"} & set(args):
        at = 1 if args and args[0] == "run" else 0
        args[at:at] = ["--model", MODEL_TYPE]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "export-task":
        return _export(args[1:])
    from tl_reasoning_lm_eval import register

    register()
    from lm_eval.__main__ import cli_evaluate

    saved = sys.argv
    sys.argv = ["lm-eval", *lm_eval_argv(args)]  # lm-eval's CLI reads sys.argv itself
    try:
        cli_evaluate()
    finally:
        sys.argv = saved
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
