"""``tl-reasoning steer``: generate with and without steering SAE features and show both.

Greedy by default; ``--temperature``/``--seed`` sample (the same seed for both runs). f_max comes
from ``--f-max``, else from ``--stats`` (ReasonScore statistics with per-feature maxima), else — for
the organism only — it is estimated on the organism's reasoning corpus; otherwise it is an error.
``--save SPEC.json`` writes the steering as a spec (:mod:`tl_reasoning.steering.saved`) and
``--spec SPEC.json`` steers with a saved one instead of ``--sae/--feature/...``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
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
    parser.add_argument("--model", help="registered name, local HF directory or Hub id (with --spec: default the "
                        "spec's model)")
    parser.add_argument("--sae", help="registered name, local sae-lens directory, release or repo (with --spec: "
                        "default the spec's SAE; either way it must be the SAE the spec was saved with)")
    parser.add_argument("--sae-id", help="SAE id inside a sae-lens release or folder inside a Hub repo")
    parser.add_argument("--feature", type=nonnegative_int, action="append",
                        help="SAE feature index to steer (repeat for several)")
    parser.add_argument("--spec", help="steer with a saved steering spec (JSON from --save) instead of --feature, "
                        "--strength/--rho, --mode, --positions, --f-max, --stats, --site and --option")
    # dest is not "save": nnsight mounts a .save() on every object, so argparse would never set args.save
    parser.add_argument("--save", dest="save_spec", metavar="SPEC.json",
                        help="write the steering used as a spec (JSON; direction vectors beside it) that --spec, "
                        "evaluate --spec and tl_reasoning.load_steering load")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--strength", type=finite_float, default=None, help="γ (default 2.0, the paper's benchmark value)")
    size.add_argument("--rho", type=positive_float, default=None,
                      help="push size instead of γ: rho = ‖Δ‖ / mean‖x‖ at the site, measured on the prompt "
                      "(mode add; the paper's γ = 2 is about 0.1-0.2 on its model)")
    parser.add_argument("--mode", default=None, help="add (paper Eq. 7, default), clamp, cap, ablate or a plugin's")
    parser.add_argument("--prompt", required=True, help="the prompt (the chat template is not applied)")
    parser.add_argument("--max-new-tokens", type=positive_int, default=64)
    parser.add_argument("--positions", default=None,
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
    from tl_reasoning.plugins import backend_for
    from tl_reasoning.steering import generate, resolve_token_id
    from tl_reasoning.steering.display import count_words, mark_words, reasoning_words, side_by_side
    from tl_reasoning.threads import apply_thread_policy

    if args.max_new_tokens < 1:
        raise ValueError(f"--max-new-tokens must be >= 1, got {args.max_new_tokens}")
    from tl_reasoning.remote.cli import remote_from_args

    target = remote_from_args(args)
    if args.save_spec:
        from tl_reasoning.scoring.outputs import check_output_file

        check_output_file(args.save_spec, "--save")  # an unwritable --save fails before anything loads
    if args.spec:
        model, steerings, rho = _from_spec(args)
    else:
        model, steerings, rho = _from_flags(args)
    apply_thread_policy(model, threads=getattr(args, "threads", None))
    if any(s.positions.mode == "thinking" for s in steerings):
        resolve_token_id(backend_for(model), args.think_end)  # a single token, before generating anything
    sampling = dict(do_sample=args.temperature is not None, temperature=args.temperature or 1.0, seed=args.seed)
    if args.temperature is not None and args.seed is None:
        sampling["seed"] = 0  # the same draws for both runs
    base = generate(model, args.prompt, args.max_new_tokens, remote=target, **sampling)[0]
    steered = generate(model, args.prompt, args.max_new_tokens, steerings, think_end=args.think_end, remote=target,
                       **sampling)[0]
    saved = _save(args, steerings, rho) if args.save_spec else None
    per_feature = [row for s in steerings for row in _feature_rows(s)]
    push = steered.push[0] if steered.push else None
    first = steerings[0].info
    if args.json:
        print(json.dumps({
            "baseline": {"text": base.text, "tokens": base.tokens},
            "steered": {"text": steered.text, "tokens": steered.tokens},
            "features": per_feature, "mode": first.get("mode"), "positions": str(steerings[0].positions),
            "push": push.to_dict() if push is not None else None, "requested_rho": rho,
        }))
        if saved is not None:
            print(f"wrote steering spec {saved}", file=sys.stderr)
        return 0
    words = reasoning_words()
    print(f"prompt: {args.prompt}")
    for item in steerings:
        print(_describe(item))
    if push is not None and push.rho is not None:
        print(f"push: rho = ‖Δ‖/mean‖x‖ = {push.rho:.3f} (‖Δ‖ {push.push_norm:.4g}, mean‖x‖ {push.x_norm:.4g}, "
              f"{push.changed_tokens}/{push.tokens} tokens changed)")
    print(f"reasoning words marked [like this]: {', '.join(words)}\n")
    print(side_by_side(mark_words(base.text, words), mark_words(steered.text, words), args.width,
                       (f"baseline ({count_words(base.text, words)} reasoning words)",
                        f"steered ({count_words(steered.text, words)} reasoning words)")))
    if saved is not None:
        print(f"\nwrote steering spec {saved} (load it with --spec {saved} or tl_reasoning.load_steering)")
    return 0


def _from_flags(args: argparse.Namespace) -> tuple[Any, list[Any], float | None]:
    """Model, the one steering built from --sae/--feature/--strength|--rho/..., and the ρ asked for."""
    from tl_reasoning.loading.models import load_model
    from tl_reasoning.loading.saes import check_sae_compatible, load_sae
    from tl_reasoning.positions import Positions
    from tl_reasoning.sae_weights import SAEWeights
    from tl_reasoning.steering import feature_steering
    from tl_reasoning.steering.spec import intervention_factory

    missing = [flag for flag, value in (("--model", args.model), ("--sae", args.sae), ("--feature", args.feature))
               if not value]
    if missing:
        raise ValueError(f"steer needs {', '.join(missing)} (or --spec SPEC.json, a steering saved with --save)")
    args.mode = args.mode or "add"
    factory = intervention_factory(args.mode)  # unknown mode: fail before loading anything
    options = parse_options(args.option)
    positions = Positions.parse(args.positions or "all")
    sae = load_sae(args.sae, sae_id=args.sae_id, device=args.device)
    SAEWeights.from_sae(sae, args.feature)  # feature indices in range, before the model loads
    f_max = _given_f_max(args, sae)
    model = load_model(args.model, backend=args.backend, device=args.device)
    site = check_sae_compatible(model, sae, args.site)
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
    return model, [make(strength)], args.rho


def _from_spec(args: argparse.Namespace) -> tuple[Any, list[Any], float | None]:
    """Model and the steerings of ``--spec`` (its SAE checked), and the ρ the spec recorded."""
    from tl_reasoning.loading.models import load_model
    from tl_reasoning.loading.saes import load_sae
    from tl_reasoning.steering.saved import load_steering, read_spec

    given = [flag for flag, value in (("--feature", args.feature), ("--strength", args.strength),
                                      ("--rho", args.rho), ("--mode", args.mode), ("--positions", args.positions),
                                      ("--f-max", args.f_max), ("--stats", args.stats), ("--site", args.site),
                                      ("--option", args.option)) if value not in (None, [])]
    if given:
        raise ValueError(f"--spec gives the whole steering, so {', '.join(given)} cannot be used with it; drop "
                         f"{'it' if len(given) == 1 else 'them'}, or drop --spec and steer with flags")
    data, _, _ = read_spec(args.spec)  # a bad spec fails before any model loads
    model_name = args.model or data.get("model")
    if not model_name:
        raise ValueError(f"the steering spec {args.spec} records no model; pass --model NAME")
    sae = load_sae(args.sae, sae_id=args.sae_id, device=args.device) if args.sae else None
    if sae is not None and len(data.get("saes") or []) > 1:
        raise ValueError(f"the steering spec {args.spec} uses {len(data['saes'])} SAEs, so one --sae cannot replace "
                         "them; drop --sae (each is loaded from the spec)")
    model = load_model(model_name, backend=args.backend, device=args.device)
    steerings = load_steering(args.spec, sae=sae, model=model, device=args.device)
    rhos = [entry.get("rho") for entry in data["steerings"]]
    return model, steerings, rhos[0] if len(rhos) == 1 else None


def _save(args: argparse.Namespace, steerings: list[Any], rho: float | None) -> Any:
    from tl_reasoning.steering.saved import read_spec, save_steering

    if not args.spec:
        return save_steering(args.save_spec, steerings, model=args.model, rho=rho)
    data = read_spec(args.spec)[0]
    return save_steering(args.save_spec, steerings, model=args.model or data.get("model"),
                         rho=[entry.get("rho") for entry in data["steerings"]])


def _feature_rows(steering: Any) -> list[dict[str, Any]]:
    """``{feature, f_max, strength}`` per steered feature (none for a direction)."""
    info = steering.info
    feats = info.get("features") or []
    f_values, strength = info.get("f_max"), info.get("strength")
    return [{"feature": f, "f_max": f_values[i] if isinstance(f_values, list) else f_values,
             "strength": strength[i] if isinstance(strength, list) and len(strength) == len(feats) else strength}
            for i, f in enumerate(feats)]


def _describe(steering: Any) -> str:
    info = steering.info
    rows = _feature_rows(steering)
    what = ", ".join(f"#{d['feature']} (f_max {d['f_max']:.4g})" if isinstance(d["f_max"], float)
                     else f"#{d['feature']}" for d in rows) or f"a direction (norm {info.get('direction_norm', 0):.4g})"
    strength = info.get("strength")
    shown = f"{strength:.4g}" if isinstance(strength, float) else str(strength)
    return (f"steering {what} at {steering.site}: mode {info.get('mode')}, strength {shown}, "
            f"positions {steering.positions}")


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
