"""``tl-reasoning interpret``: describe and group the top features with an explainer (paper §4.2)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from tl_reasoning.cli.argtypes import (
    finite_float,
    float_list,
    int_list,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "interpret", help="describe and group features with an LLM (automatic interpretation)",
        description="The paper's automatic interpretation: steer each feature at several strengths on a set of "
                    "prompts, give an explainer the steered outputs with the top contexts, logit lens and word "
                    "profile, group the descriptions into behaviours. Writes explanations.json, "
                    "interpretations.csv/.md, groups.json/.png, evidence.json and usage.json into --out. The llm "
                    "explainer talks to any OpenAI-compatible endpoint (flags or TL_REASONING_LLM_BASE_URL, "
                    "TL_REASONING_LLM_MODEL, TL_REASONING_LLM_API_KEY; OPENAI_* as fallback). See docs/interpret.md.")
    p.add_argument("--model", default="organism", help="model spec (default organism)")
    p.add_argument("--sae", default="organism", help="SAE spec (default organism)")
    p.add_argument("--scores", required=True, help="directory written by `tl-reasoning score` (needs stats)")
    p.add_argument("--data", default=None, help="corpus for the top contexts (default: the scoring run's data)")
    p.add_argument("--top", type=positive_int, default=10, help="features: the top N by ReasonScore (default 10)")
    p.add_argument("--features", default=None, help="comma-separated feature ids instead of --top")
    p.add_argument("--explainer", default="llm", help="registered explainer: llm (default), template, a plugin's")
    p.add_argument("--evidence-only", action="store_true",
                   help="gather and write evidence.json (what an explainer would get); ask no explainer")
    g = p.add_argument_group("steering protocol")
    g.add_argument("--strengths", default="-4,-2,0,2,4", help="comma-separated γ (default -4,-2,0,2,4; 0 = baseline)")
    g.add_argument("--prompts", default="organism",
                   help="benchmark name or file (.jsonl/.json/.csv) the prompts are sampled from (default organism)")
    g.add_argument("--n-prompts", type=positive_int, default=30, help="prompts per feature (default 30, the paper's)")
    g.add_argument("--positions", default="all", help="all, prompt, generated, thinking or START:END (default all)")
    g.add_argument("--mode", default="add", help="intervention (default add, paper Eq. 7)")
    g.add_argument("--max-new-tokens", type=positive_int, default=64, help="tokens per steered output (default 64)")
    g.add_argument("--temperature", type=nonnegative_float, default=0.0, help="0 = greedy (default)")
    g.add_argument("--seed", type=nonnegative_int, default=0, help="prompt sample and sampling seed (default 0)")
    g.add_argument("--contexts", type=positive_int, default=10, help="top contexts per feature (default 10)")
    g.add_argument("--max-docs", type=positive_int, default=400, help="documents searched for contexts (default 400)")
    g.add_argument("--batch-size", type=positive_int, default=32, help="generations per batch (default 32)")
    e = p.add_argument_group("llm explainer (OpenAI-compatible endpoint)")
    e.add_argument("--base-url", default=None, help="endpoint, e.g. http://127.0.0.1:8000/v1 (env TL_REASONING_LLM_BASE_URL)")
    e.add_argument("--llm-model", default=None, help="model name at the endpoint (env TL_REASONING_LLM_MODEL)")
    e.add_argument("--api-key-env", default=None, metavar="VAR",
                   help="read the API key from this environment variable (default TL_REASONING_LLM_API_KEY, then "
                        "OPENAI_API_KEY); the key is never printed or written")
    e.add_argument("--timeout", type=positive_float, default=60.0, help="seconds per request (default 60)")
    e.add_argument("--max-retries", type=nonnegative_int, default=3, help="retries per request (default 3)")
    e.add_argument("--max-requests", type=positive_int, default=None,
                   help="request budget for the run, retries included (default: no limit)")
    e.add_argument("--price-in", type=nonnegative_float, default=None, help="USD per 1M prompt tokens (cost report)")
    e.add_argument("--price-out", type=nonnegative_float, default=None, help="USD per 1M completion tokens")
    e.add_argument("--cache", default=None, help="request cache file (default OUT/llm_cache.jsonl)")
    e.add_argument("--llm-temperature", type=finite_float, default=0.0, help="explainer temperature (default 0)")
    e.add_argument("--llm-max-tokens", type=positive_int, default=512, help="answer tokens per request (default 512)")
    p.add_argument("--backend", default=None, help="hooked | bridge | nnsight")
    p.add_argument("--device", default=None)
    p.add_argument("--out", required=True, help="output folder (created; a rerun reuses its evidence and cache)")
    p.add_argument("--dashboard", action="store_true",
                   help="also write OUT/dashboard.html: the features' dashboard with their descriptions")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def explainer_options(args: argparse.Namespace) -> dict[str, Any]:
    """The llm explainer's options from the flags (only those given; the rest come from the environment)."""
    import os

    if args.explainer != "llm":
        return {}
    options: dict[str, Any] = {"timeout_s": args.timeout, "max_retries": args.max_retries,
                               "temperature": args.llm_temperature, "max_tokens": args.llm_max_tokens}
    for flag, key in (("base_url", "base_url"), ("llm_model", "model"), ("max_requests", "max_requests"),
                      ("price_in", "price_in"), ("price_out", "price_out"), ("cache", "cache")):
        if getattr(args, flag) is not None:
            options[key] = getattr(args, flag)
    if args.api_key_env:
        key = os.environ.get(args.api_key_env)
        if not key:
            raise ValueError(f"--api-key-env {args.api_key_env}: that environment variable is not set")
        options["api_key"] = key
    return options


def run(args: argparse.Namespace) -> int:
    from tl_reasoning.autointerp import interpret
    from tl_reasoning.cli.loading import load_model_and_sae, scored_data
    from tl_reasoning.scoring.outputs import check_output_dir

    start = time.perf_counter()
    out = check_output_dir(args.out)
    strengths = float_list(args.strengths, "--strengths")
    if not strengths:
        raise ValueError("--strengths is empty; pass at least one γ, e.g. -4,-2,0,2,4")
    features = int_list(args.features, "--features") if args.features else None
    options = explainer_options(args)
    data = scored_data(args)
    if not args.evidence_only:  # fail fast: an unreachable endpoint or unknown explainer before any model work
        from tl_reasoning.autointerp import make_explainer

        cache = options.pop("cache", out / "llm_cache.jsonl") if args.explainer == "llm" else None
        explainer = make_explainer(args.explainer, **options, **({"cache": cache} if cache is not None else {}))
        if callable(getattr(explainer, "check", None)):
            explainer.check()
    else:
        explainer = args.explainer
    model, sae = load_model_and_sae(args)
    result = interpret(model, sae, args.scores, data, explainer=explainer, features=features, top=args.top,
                       prompts=args.prompts, n_prompts=args.n_prompts, strengths=strengths, positions=args.positions,
                       mode=args.mode, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                       seed=args.seed, contexts=args.contexts, max_docs=args.max_docs, out=out,
                       evidence_only=args.evidence_only, sae_name=args.sae, batch_size=args.batch_size,
                       progress=not args.quiet)
    took = time.perf_counter() - start
    if args.evidence_only:
        print(f"wrote {out / 'evidence.json'} ({len(result.features)} features, {took:.1f} s)", file=sys.stderr)
        print(out / "evidence.json")
        return 0
    for row in result.table().to_dict("records"):
        print(f"feature {row['feature']:>6}  [{row['group']}]  {row['description']}")
    if result.group_problems:
        print("grouping: " + "; ".join(result.group_problems), file=sys.stderr)
    usage = getattr(getattr(explainer, "usage", None), "summary", None)
    if callable(usage):
        print(usage(), file=sys.stderr)
    if args.dashboard:
        from tl_reasoning.dashboard import feature_dashboard

        board = feature_dashboard(model, sae, args.scores, data, features=[e.feature for e in result.explanations],
                                  contexts=args.contexts, max_docs=args.max_docs, explanations=out,
                                  sae_name=args.sae, progress=not args.quiet)
        print(f"wrote {board.save(out / 'dashboard.html')}", file=sys.stderr)
    print(f"wrote {out} ({len(result.explanations)} features, {len(result.groups())} groups, {took:.1f} s; "
          f"evidence {result.seconds.get('evidence', 0):.1f} s)", file=sys.stderr)
    print(json.dumps({"out": str(out), "groups": {k: len(v) for k, v in result.groups().items()}}))
    return 0
