"""``tl-reasoning dashboard``: one offline HTML dashboard of the top features by ReasonScore."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from tl_reasoning.cli.argtypes import finite_float, positive_int


def add_parser(sub: Any) -> None:
    p = sub.add_parser("dashboard", help="write an offline HTML dashboard of the top features",
                       description="Top-activating contexts, logit lens, histogram and scores of the top-K "
                                   "features of a `tl-reasoning score` run, in one self-contained HTML file.")
    p.add_argument("--model", required=True, help="model spec (organism, a directory, a Hugging Face id)")
    p.add_argument("--sae", required=True, help="SAE spec (organism, a directory, a sae-lens release)")
    p.add_argument("--scores", required=True, help="directory written by `tl-reasoning score`")
    p.add_argument("--data", default=None, help="corpus for the contexts (default: the scoring run's data)")
    p.add_argument("--top", type=positive_int, default=20, help="number of features (default 20)")
    p.add_argument("--features", default=None, help="comma-separated feature ids instead of --top")
    p.add_argument("--max-docs", type=positive_int, default=400, help="documents searched for contexts (default 400)")
    p.add_argument("--contexts", type=positive_int, default=10, help="top contexts per feature (default 10)")
    p.add_argument("--steer-prompt", default=None, help="add baseline vs steered generations for this prompt")
    p.add_argument("--strength", type=finite_float, default=2.0, help="γ for --steer-prompt (default 2)")
    p.add_argument("--context-size", type=int, default=None,
                   help="tokens per document searched (default: the model's context; longer ones are truncated)")
    p.add_argument("--explanations", default=None, metavar="PATH",
                   help="`tl-reasoning interpret` output folder or its explanations.json: a description per feature")
    p.add_argument("--backend", default=None, help="hooked | bridge | nnsight")
    p.add_argument("--device", default=None)
    p.add_argument("--out", required=True, help="output HTML file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tl_reasoning.cli.loading import load_model_and_sae, scored_data
    from tl_reasoning.dashboard import feature_dashboard
    from tl_reasoning.scoring.outputs import check_output_file

    start = time.perf_counter()
    check_output_file(args.out)  # before any compute
    for flag in ("top", "max_docs", "contexts"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    if args.context_size is not None and args.context_size < 2:
        raise ValueError(f"--context-size must be >= 2, got {args.context_size}")
    if args.explanations:
        from tl_reasoning.dashboard.descriptions import load_explanations

        load_explanations(args.explanations)  # a wrong file fails before the model loads
    data = scored_data(args)
    model, sae = load_model_and_sae(args)
    features = [int(f) for f in args.features.split(",")] if args.features else None
    board = feature_dashboard(model, sae, args.scores, data, top=args.top, features=features, max_docs=args.max_docs,
                              contexts=args.contexts, steer_prompt=args.steer_prompt, strength=args.strength,
                              progress=True, sae_name=args.sae, context_size=args.context_size,
                              explanations=args.explanations)
    path = board.save(args.out)
    print(f"wrote {path} ({len(board.features)} features, {path.stat().st_size / 1e6:.2f} MB, "
          f"{time.perf_counter() - start:.1f} s)", file=sys.stderr)
    print(path)
    return 0
