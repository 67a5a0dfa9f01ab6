"""``tl-reasoning validate``: the method checked against the organism's planted ground truth.

Scores every feature of ``--sae`` with ReasonScore over ``organism:reasoning``, ranks the features
with each selector (ReasonScore, Cohen's d, output score, random) and compares the rankings with the
ground-truth reasoning features (precision, recall, average precision); then steers the top
ReasonScore features, as many ground-truth features, the oracle direction and matched random
features at each ``--rho`` on the organism benchmark (sampled) and prints the dose-response table
(:func:`tl_reasoning.validate.validate`). ``--out DIR`` writes validation.json, validation.txt,
dose_response.png and the evaluation folder. See docs/validate.md.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from tl_reasoning.cli.argtypes import nonnegative_int, positive_float, positive_int

#: Reasoning documents scored for ReasonScore (full run / --quick).
SCORE_DOCS = 1000
QUICK_SCORE_DOCS = 48
_POSITIONS = ("thinking", "all", "generated", "prompt")


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "validate", help="check feature selectors and steering against the organism's ground truth",
        description="Rank the features of --sae with ReasonScore, Cohen's d, the output score and random scores, "
        "compare each with the organism's ground-truth reasoning features (precision, recall, average precision), "
        "then steer the top ReasonScore features, ground-truth features, the oracle direction and matched random "
        "features at each --rho on the organism benchmark and report the dose-response with bootstrap CIs.",
    )
    parser.add_argument("--sae", default="organism",
                        help="SAE with ground truth: organism (TopK, default) or organism-relu (ReLU)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write validation.json, validation.txt, dose_response.png and evaluation/ here")
    parser.add_argument("--problems", type=positive_int, default=None, help="benchmark problems (default 32; quick 4)")
    parser.add_argument("--samples", type=positive_int, default=None,
                        help="samples per problem at T 0.6, top-p 0.95 (default 1; quick 1)")
    parser.add_argument("--rho", type=positive_float, nargs="+", default=None, metavar="RHO",
                        help="push sizes ρ = ‖Δ‖/mean‖x‖ (default 0.05 0.1 0.2 0.4; quick 0.1 0.4)")
    parser.add_argument("--positions", nargs="+", choices=_POSITIONS, default=None,
                        help="steered positions (default thinking; several: one series each)")
    parser.add_argument("--n-steer", type=positive_int, default=None,
                        help="features steered per group (default 2, at most ReasonScore's selected set; quick 1)")
    parser.add_argument("--n-random", type=positive_int, default=None,
                        help="matched random features (default 10; quick 2)")
    parser.add_argument("--max-new-tokens", type=positive_int, default=None, help="default 320; quick 256")
    parser.add_argument("--score-docs", type=positive_int, default=None,
                        help=f"reasoning documents for ReasonScore (default {SCORE_DOCS}; quick {QUICK_SCORE_DOCS})")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="generation, random and bootstrap seed")
    parser.add_argument("--quick", action="store_true", help="a smoke-test size that runs in about a minute")
    parser.add_argument("--no-causal", action="store_true", help="selector table only, no steering")
    parser.add_argument("--backend", default="nnsight",
                        help="nnsight (default: generates at Hugging Face speed), hooked, bridge or auto")
    parser.add_argument("--device", default=None, help="torch device (default cpu)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(run=run)


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~tl_reasoning.validate.ValidationConfig` asked for (``--quick`` sizes, then options)."""
    from tl_reasoning.validate.run import ValidationConfig

    config = ValidationConfig.quick() if args.quick else ValidationConfig()
    changes: dict[str, Any] = {"seed": args.seed, "causal": not args.no_causal}
    for option, field in (("problems", "problems"), ("samples", "samples"), ("n_steer", "n_steer"),
                          ("n_random", "n_random"), ("max_new_tokens", "max_new_tokens")):
        if getattr(args, option) is not None:
            changes[field] = getattr(args, option)
    if args.rho is not None:
        changes["rhos"] = tuple(dict.fromkeys(args.rho))
    if args.positions is not None:
        changes["positions"] = tuple(dict.fromkeys(args.positions))
    config = replace(config, **changes)
    config.check()
    return config


def _truth(sae: str) -> dict[str, Any]:
    """The organism's ground truth, checked to cover ``sae`` (before anything heavy loads)."""
    from tl_reasoning.organism.ground_truth import ground_truth_dir, load_ground_truth
    from tl_reasoning.validate.run import ground_truth_for

    try:
        truth = load_ground_truth()
    except FileNotFoundError:
        raise FileNotFoundError(f"the organism has no ground truth at {ground_truth_dir()}: build it with python -m "
                                "tl_reasoning.organism.ground_truth (organism v3 artifacts)") from None
    ground_truth_for(truth, sae)
    return truth


def run(args: argparse.Namespace) -> int:
    from itertools import islice

    from tl_reasoning.corpora import iter_texts, load_corpus
    from tl_reasoning.loading.models import load_model
    from tl_reasoning.loading.saes import check_sae_compatible, load_sae
    from tl_reasoning.scoring import score_features
    from tl_reasoning.threads import apply_thread_policy
    from tl_reasoning.validate.run import validate

    config = config_from_args(args)
    truth = _truth(args.sae)
    docs = args.score_docs or (QUICK_SCORE_DOCS if args.quick else SCORE_DOCS)
    log = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    log(f"validate: SAE {args.sae}, ReasonScore over {docs} organism:reasoning documents, "
        + ("no steering" if not config.causal else
           f"{config.problems} problems x {config.samples} sample(s) x {len(config.rhos)} rho x "
           f"{len(config.positions)} position rule(s)"))
    sae = load_sae(args.sae, device=args.device)
    model = load_model("organism", backend=args.backend, device=args.device)
    apply_thread_policy(model, threads=getattr(args, "threads", None))
    check_sae_compatible(model, sae, None)
    result = score_features(model, sae, "organism:reasoning", max_docs=docs)
    contexts = list(islice(iter_texts(load_corpus("organism:reasoning")), max(config.output_contexts, config.calibration_prompts)))
    validation = validate(model, sae, result, truth, sae_name=args.sae, contexts=contexts, benchmark="organism",
                          config=config, progress=not args.quiet)
    print(validation.summary())
    if args.out:
        paths = validation.save(args.out)
        print(f"\nwrote {args.out}/ ({', '.join(p.name for p in paths.values())})")
    return 0
