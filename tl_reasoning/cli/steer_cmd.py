"""``tl-reasoning steer``: generate with and without steering SAE features and show both.

Greedy by default; ``--temperature``/``--seed`` sample (the same seed for both runs). f_max comes
from ``--f-max``, else from ``--stats`` (ReasonScore statistics with per-feature maxima), else — for
the organism only — it is estimated on the organism's reasoning corpus; otherwise it is an error.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from tl_reasoning.cli.argtypes import finite_float, nonnegative_int, positive_float, positive_int, temperature

#: Documents of the organism's reasoning corpus used to estimate f_max when nothing else gives it.
ORGANISM_F_MAX_DOCS = 64
_ORGANISMS = ("organism", "organism-base")


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "steer", help="generate with and without steering SAE features, side by side",
        description="Generate from --prompt once unsteered and once with --feature(s) of --sae steered "
        "(mode add|clamp|cap|ablate, strength γ, f_max), and print both with reasoning words marked.",
    )
    parser.add_argument("--model", required=True, help="registered name, local HF directory or Hub id")
    parser.add_argument("--sae", required=True, help="registered name, local sae-lens directory, release or repo")
    parser.add_argument("--sae-id", help="SAE id inside a sae-lens release or folder inside a Hub repo")
    parser.add_argument("--feature", type=nonnegative_int, action="append", required=True,
                        help="SAE feature index to steer (repeat for several)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--strength", type=finite_float, default=None, help="γ (default 2.0, the paper's benchmark value)")
    size.add_argument("--rho", type=positive_float, default=None,
                      help="push size instead of γ: rho = ‖Δ‖ / mean‖x‖ at the site, measured on the prompt "
                      "(mode add; the paper's γ = 2 is about 0.1-0.2 on its model)")
    parser.add_argument("--mode", default="add", help="add (paper Eq. 7, default), clamp, cap, ablate or a plugin's")
    parser.add_argument("--prompt", required=True, help="the prompt (the chat template is not applied)")
    parser.add_argument("--max-new-tokens", type=positive_int, default=64)
    parser.add_argument("--positions", default="all",
                        help="all (default, the paper), prompt, generated, thinking, or a window START:END")
    parser.add_argument("--f-max", type=positive_float, action="append",
                        help="maximum activation: one value, or one per --feature in the same order")
    parser.add_argument("--stats", help="ReasonScore statistics: the `tl-reasoning score` output directory (its stats.safetensors) or the file")
    parser.add_argument("--site", help="override the SAE's hook site")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of the intervention, e.g. only_above=true (cap), how=direction (ablate), "
                        "rotation=target (plugin modes); repeatable; values are Python literals or strings")
    parser.add_argument("--think-end", default="</think>", help="token closing the thinking section")
    parser.add_argument("--backend", default="auto", help="bridge, hooked, nnsight or auto (default)")
    parser.add_argument("--device", default=None, help="torch device (default cpu)")
    parser.add_argument("--temperature", type=temperature, default=None, help="sample at this temperature (default greedy)")
    parser.add_argument("--seed", type=int, default=None, help="random seed for sampling (both runs)")
    parser.add_argument("--width", type=positive_int, default=100, help="width of the side-by-side display")
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object")
    from tl_reasoning.remote.cli import add_remote_arguments

    add_remote_arguments(parser)
    parser.set_defaults(run=run)


def _given_f_max(args: argparse.Namespace, sae: Any = None) -> Any:
    """f_max from --f-max or --stats; ``None`` when neither gives it (checked before loading the model)."""
    from tl_reasoning.steering.fmax import f_max_from_stats

    features = args.feature
    if args.f_max:
        if len(args.f_max) not in (1, len(features)):
            raise ValueError(f"--f-max takes one value or one per --feature ({len(features)}), "
                             f"got {len(args.f_max)}")
        return args.f_max[0] if len(args.f_max) == 1 else list(args.f_max)
    if args.stats:
        return f_max_from_stats(args.stats, features, sae=sae, sae_name=args.sae)
    if args.mode != "ablate" and args.model not in _ORGANISMS:
        raise ValueError(
            f"no f_max for features {features}: pass --f-max V (one value or one per --feature) or --stats DIR "
            "(ReasonScore statistics with per-feature maxima); it is estimated automatically only for the organism"
        )
    return None


def _organism_f_max(model: Any, sae: Any, features: list[int], site: str) -> Any:
    """Estimate f_max (the maximum) on the first documents of the organism's reasoning corpus."""
    from itertools import islice

    from tl_reasoning.corpora import iter_texts, load_corpus
    from tl_reasoning.steering.fmax import estimate_f_max

    texts = list(islice(iter_texts(load_corpus("organism:reasoning")), ORGANISM_F_MAX_DOCS))
    return estimate_f_max(model, sae, texts, features, site=site).tolist()


def run(args: argparse.Namespace) -> int:
    from tl_reasoning.loading.models import load_model
    from tl_reasoning.loading.saes import check_sae_compatible, load_sae
    from tl_reasoning.plugins import backend_for
    from tl_reasoning.positions import Positions
    from tl_reasoning.sae_weights import SAEWeights
    from tl_reasoning.steering import feature_steering, generate, resolve_token_id
    from tl_reasoning.steering.display import count_words, mark_words, reasoning_words, side_by_side
    from tl_reasoning.steering.spec import intervention_factory
    from tl_reasoning.threads import apply_thread_policy

    if args.max_new_tokens < 1:
        raise ValueError(f"--max-new-tokens must be >= 1, got {args.max_new_tokens}")
    factory = intervention_factory(args.mode)  # unknown mode: fail before loading anything
    options = parse_options(args.option)
    positions = Positions.parse(args.positions)
    from tl_reasoning.remote.cli import remote_from_args

    target = remote_from_args(args)
    sae = load_sae(args.sae, sae_id=args.sae_id, device=args.device)
    SAEWeights.from_sae(sae, args.feature)  # feature indices in range, before the model loads
    f_max = _given_f_max(args, sae)
    model = load_model(args.model, backend=args.backend, device=args.device)
    apply_thread_policy(model, threads=getattr(args, "threads", None))
    site = check_sae_compatible(model, sae, args.site)
    if positions.mode == "thinking":
        resolve_token_id(backend_for(model), args.think_end)  # a single token, before generating anything
    if f_max is None and getattr(factory, "uses_f_max", args.mode != "ablate"):
        f_max = _organism_f_max(model, sae, args.feature, site)
    def make(strength: float) -> Any:
        return feature_steering(sae, args.feature, strength=strength, mode=args.mode, f_max=f_max,
                                positions=positions, site=site, **options)

    strength = 2.0 if args.strength is None else args.strength
    if not math.isfinite(strength):
        raise ValueError(f"--strength must be a finite number, got {strength}")
    if args.rho is not None:
        from tl_reasoning.steering.push import strength_for_rho

        strength = strength_for_rho(model, make, args.prompt, args.rho)
    steering = make(strength)
    sampling = dict(do_sample=args.temperature is not None, temperature=args.temperature or 1.0, seed=args.seed)
    if args.temperature is not None and args.seed is None:
        sampling["seed"] = 0  # the same draws for both runs
    base = generate(model, args.prompt, args.max_new_tokens, remote=target, **sampling)[0]
    steered = generate(model, args.prompt, args.max_new_tokens, steering, think_end=args.think_end, remote=target,
                       **sampling)[0]
    f_values = steering.info.get("f_max")
    per_feature = [
        {"feature": f,
         "f_max": f_values[i] if isinstance(f_values, list) else f_values,
         "strength": strength}
        for i, f in enumerate(args.feature)
    ]
    push = steered.push[0] if steered.push else None
    if args.json:
        print(json.dumps({
            "baseline": {"text": base.text, "tokens": base.tokens},
            "steered": {"text": steered.text, "tokens": steered.tokens},
            "features": per_feature, "mode": args.mode, "positions": str(positions),
            "push": push.to_dict() if push is not None else None, "requested_rho": args.rho,
        }))
        return 0
    words = reasoning_words()
    described = ", ".join(f"#{d['feature']} (f_max {d['f_max']:.4g})" if isinstance(d["f_max"], float)
                          else f"#{d['feature']}" for d in per_feature)
    print(f"prompt: {args.prompt}")
    print(f"steering {described} at {site}: mode {args.mode}, strength {strength:.4g}, positions {positions}")
    if push is not None and push.rho is not None:
        print(f"push: rho = ‖Δ‖/mean‖x‖ = {push.rho:.3f} (‖Δ‖ {push.push_norm:.4g}, mean‖x‖ {push.x_norm:.4g}, "
              f"{push.changed_tokens}/{push.tokens} tokens changed)")
    print(f"reasoning words marked [like this]: {', '.join(words)}\n")
    print(side_by_side(mark_words(base.text, words), mark_words(steered.text, words), args.width,
                       (f"baseline ({count_words(base.text, words)} reasoning words)",
                        f"steered ({count_words(steered.text, words)} reasoning words)")))
    return 0


def parse_options(items: list[str]) -> dict[str, object]:
    """``["k=v", ...]`` → ``{k: v}``; values are Python literals (numbers, true/false, lists) or strings."""
    import ast

    out: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ValueError(f"--option {item!r} is not KEY=VALUE (e.g. --option only_above=true)")
        text = {"true": "True", "false": "False", "none": "None"}.get(raw.strip().lower(), raw.strip())
        try:
            out[key.strip()] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[key.strip()] = raw.strip()
    return out
