"""``tl-reasoning demo``: score → candidates → dashboard → steering evaluation with controls → word ban →
model diffing → one report folder, on the organism by default (about 6-8 min on 2 CPU cores shared with another
job: 2 candidates, 10 frequency- and push-matched controls each, 64 problems; ``--quick``: under a minute, a smoke
run with no verdict). The verdict applies the protocol's gates (docs/evaluation.md)."""

from __future__ import annotations

import argparse
import dataclasses
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    from tl_reasoning.demo.config import QUICK, DemoConfig

    defaults = DemoConfig()
    parser = sub.add_parser(
        "demo", help="reproduce the paper end to end (organism by default) into one report folder",
        description="Score every SAE feature by ReasonScore, build the dashboard of the top ones, evaluate steering "
        "the top candidates at gamma against the baseline, random features matched on activation frequency and push "
        "size (10 per candidate) and the word ban, diff the candidates against the base model's SAE, and write "
        "OUT/report.html, report.json, table.md and PNG figures. Prints the Table-1-like summary and the verdict "
        "(non-inferior accuracy, finish rate, no degeneration, then the change in thinking length and word rate). "
        "On the organism it takes about 6-8 min on 2 CPU cores shared with another job (it prints its estimate "
        "first); --quick under a minute.",
    )
    parser.add_argument("--out", default="runs/demo", help="report folder (default runs/demo)")
    parser.add_argument("--quick", action="store_true", help="reduced sizes: the same steps in well under a minute; "
                        f"the baseline still finishes thinking, but {QUICK['problems']} problems are too few for a verdict")
    for f in dataclasses.fields(DemoConfig):
        if f.name in ("target_change", "control_limit", "min_verdict_problems"):
            continue
        value = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                help=f"(default {value})")
        else:
            kind = float if isinstance(value, float) else int if isinstance(value, int) else str
            parser.add_argument(flag, dest=f.name, type=kind, default=None, help=f"(default {value})")
    parser.add_argument("--no-base-sae", action="store_true", help="skip model diffing")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tl_reasoning.demo import QUICK, DemoConfig, run_demo

    changes = dict(QUICK) if args.quick else {}
    for f in dataclasses.fields(DemoConfig):
        value = getattr(args, f.name, None)
        if value is not None:
            changes[f.name] = value
    if args.no_base_sae:
        changes["base_sae"] = None
    for name in ("score_docs", "candidates", "problems", "max_new_tokens", "batch_size", "samples"):
        if name in changes and changes[name] < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {changes[name]}")
    if not 0 <= changes.get("temperature", 0.0) < float("inf"):
        raise ValueError(f"--temperature must be a finite number >= 0 (0: greedy), got {changes['temperature']}")
    if not 0 <= changes.get("oracle_rho", 0.0) < float("inf"):
        raise ValueError(f"--oracle-rho must be a finite number >= 0 (0: no oracle control), got {changes['oracle_rho']}")
    if not 0 < changes.get("top_p", 0.95) <= 1:
        raise ValueError(f"--top-p must be in (0, 1], got {changes['top_p']}")
    report = run_demo(DemoConfig().replace(**changes), args.out, progress=not args.quiet,
                      threads=getattr(args, "threads", None))
    print(report.table())
    print()
    print(report.outcome["text"])
    if report.presence is not None:
        print()
        print(report.presence.summary())
    print(f"\nreport: {report.out / 'report.html'}", file=sys.stderr)
    return 0
