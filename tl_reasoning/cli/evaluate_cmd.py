"""``tl-reasoning evaluate``: benchmark accuracy, thinking length and reasoning-word rate under steering.

Runs the baseline, every ``--features`` × ``--strength`` steering, the random feature controls
matched on activation frequency and push size (``--controls random[:N]``, 10 by default) and the word ban with its random-word control
(``--word-ban``) on the same problems, prints the summary table (changes vs baseline with paired
bootstrap CIs) and writes the result folder (``tl_reasoning.evaluation.EvaluationResult.save``)
plus ``steering_results.png``. ``--spec SPEC.json`` (repeatable) adds one condition per saved steering
spec (``tl-reasoning steer --save``), its SAE checked. Everything defaults to the organism. f_max comes from ``--f-max``,
else ``--stats``, else (organism only) from one pass over its reasoning corpus; the random controls
need activation frequencies from ``--stats`` (or that same organism pass).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tl_reasoning.cli.argtypes import (
    float_list,
    int_list,
    nonnegative_int,
    positive_float,
    positive_int,
    probability,
    temperature,
)

#: Documents of the organism's reasoning corpus used for f_max and activation frequencies without --stats.
ORGANISM_STATS_DOCS = 64
#: Documents read from --random-words-from (or the organism's reasoning corpus) for the word-ban control.
RANDOM_WORD_DOCS = 2000
_ORGANISMS = ("organism", "organism-base")


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "evaluate", help="accuracy, thinking length and reasoning-word rate: baseline vs steering vs controls",
        description="Evaluate a model on a benchmark without steering, with each feature x strength steered, "
        "with frequency-matched random features (--controls random:N) and with the reasoning words banned "
        "while thinking (--word-ban, plus random-word bans), and compare each to the baseline with paired "
        "bootstrap confidence intervals.",
    )
    parser.add_argument("--model", default="organism", help="registered name, local HF directory or Hub id "
                        "(default organism)")
    parser.add_argument("--sae", default="organism", help="registered name, local sae-lens directory, release or "
                        "repo (default organism)")
    parser.add_argument("--sae-id", help="SAE id inside a sae-lens release or folder inside a Hub repo")
    parser.add_argument("--features", default="", help="comma-separated SAE feature indices to steer, e.g. 12,34")
    parser.add_argument("--spec", action="append", default=[], metavar="SPEC.json",
                        help="a saved steering spec (`tl-reasoning steer ... --save SPEC.json`) evaluated as one "
                        "condition named spec:<file stem>; repeatable")
    parser.add_argument("--strength", default="2", help="comma-separated strengths γ (default 2, the paper's)")
    parser.add_argument("--mode", default="add", help="add (paper Eq. 7, default), clamp, cap, ablate or a plugin's")
    parser.add_argument("--positions", default="all",
                        help="steered positions: all (default, the paper), prompt, generated, thinking, START:END")
    parser.add_argument("--f-max", default=None, help="maximum activation: one value or one per feature (comma-separated)")
    parser.add_argument("--stats", help="ReasonScore statistics (the `tl-reasoning score` output directory): f_max, "
                        "and activation frequencies for --controls")
    parser.add_argument("--benchmark", default="organism",
                        help="registered benchmark (default organism) or a local AIME-2024 / MATH-500 / GPQA file "
                        "(.json, .jsonl, .csv, .parquet) or directory")
    parser.add_argument("--format", default=None, choices=("aime", "math500", "gpqa", "organism"),
                        help="benchmark file format (default: detected from the columns)")
    parser.add_argument("--limit", type=positive_int, default=None, help="first N problems only")
    parser.add_argument("--samples", type=positive_int, default=1, help="samples per problem (> 1: sampled, maj@k reported)")
    parser.add_argument("--max-new-tokens", type=positive_int, default=512)
    parser.add_argument("--batch-size", type=positive_int, default=8, help="generations per batch (default 8)")
    parser.add_argument("--temperature", type=temperature, default=None,
                        help="sample at this temperature (default: greedy for 1 sample, 0.6 for several)")
    parser.add_argument("--top-p", type=probability, default=0.95, help="nucleus sampling when sampling (default 0.95)")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="generation, control and bootstrap seed (default 0)")
    parser.add_argument("--controls", default=None,
                        help="random (10) or random:N = N random features per steered feature, matched on activation "
                        "frequency and push size γ·f_max·‖d_j‖ (see --push-tolerance)")
    parser.add_argument("--push-tolerance", type=positive_float, default=0.2,
                        help="a control's push must lie within ± this fraction of its candidate's (default 0.2)")
    parser.add_argument("--word-ban", action="store_true",
                        help="also ban the reasoning words while thinking, and random words as its control")
    parser.add_argument("--word-ban-runs", type=nonnegative_int, default=10, help="random-word ban runs averaged (default 10)")
    parser.add_argument("--random-words-from", default=None, metavar="CORPUS",
                        help="corpus whose thinking text the random banned words are drawn from (default: "
                        "organism:reasoning for the organism, else the baseline's own generations)")
    parser.add_argument("--vocab", default=None, help="reasoning vocabulary (words, file); default the paper's 10")
    parser.add_argument("--think-end", default="</think>", help="token closing the thinking section")
    parser.add_argument("--n-boot", type=positive_int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--backend", default="auto", help="bridge, hooked, nnsight or auto (default)")
    parser.add_argument("--device", default=None, help="torch device (default cpu)")
    parser.add_argument("--out", required=True, help="result folder (summary, records, generations, PNG)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(run=run)


def workload_line(model: str, problems: int, samples: int, steered_runs: int, max_new_tokens: int,
                  device: str | None = None) -> str:
    """The up-front line: how many generations, and roughly how long on the organism on 2 CPU cores."""
    from tl_reasoning.estimates import ORGANISMS, generation_seconds, minutes_text

    runs = 1 + steered_runs
    line = (f"evaluate: {problems} problems x {samples} sample(s) x {runs} condition run(s) = "
            f"{problems * samples * runs} generations of <= {max_new_tokens} new tokens")
    if model in ORGANISMS and (device or "cpu") == "cpu":
        seconds = 10 + generation_seconds(problems * samples, max_new_tokens, 1, steered_runs)
        line += f"; this takes {minutes_text(seconds)} on 2 CPU cores (fewer: --limit, --max-new-tokens)"
    return line


def _controls(spec: str | None) -> int:
    """Random features per steered feature asked by ``--controls`` (0: none; ``random``: the default 10)."""
    from tl_reasoning.evaluation.controls import DEFAULT_CONTROLS

    if not spec:
        return 0
    kind, colon, count = spec.partition(":")
    if kind.strip() == "random" and not colon:
        return DEFAULT_CONTROLS
    if kind.strip() != "random" or not count.strip().isdigit() or int(count) < 1:
        raise ValueError(f"unknown --controls {spec!r}; use random or random:N (N random features per steered "
                         "feature matched on frequency and push size, N >= 1; default 10)")
    return int(count)


def _organism_activations(model: Any, sae: Any, site: str) -> tuple[Any, Any]:
    """``(frequencies [d_sae], maxima [d_sae])`` over the first organism reasoning documents."""
    from itertools import islice

    import torch

    from tl_reasoning.corpora import iter_texts, load_corpus
    from tl_reasoning.plugins import backend_for

    backend = backend_for(model)
    texts = list(islice(iter_texts(load_corpus("organism:reasoning")), ORGANISM_STATS_DOCS))
    special = torch.tensor(sorted(backend.special_token_ids), dtype=torch.long)
    d_sae = int(sae.cfg.d_sae)
    active = torch.zeros(d_sae, dtype=torch.float64)
    maxima = torch.zeros(d_sae, dtype=torch.float64)
    seen = 0
    for start in range(0, len(texts), 8):
        batch = backend.tokenize(texts[start:start + 8], max_length=256)
        resid = backend.capture(batch.input_ids, [site], batch.attention_mask)[site]
        with torch.no_grad():
            acts = sae.encode(resid.to(sae.W_enc.device, sae.W_enc.dtype)).float().cpu()
        keep = batch.attention_mask.cpu().bool() & ~torch.isin(batch.input_ids.cpu(), special)
        picked = acts[keep]
        seen += picked.shape[0]
        active += (picked > 0).sum(0).double()
        maxima = torch.maximum(maxima, picked.max(0).values.double())
    return active / max(seen, 1), maxima


def _thinking_texts(spec: str | None, organism: bool) -> list[str] | None:
    """Texts the random banned words are drawn from (``None``: the baseline's generations)."""
    from itertools import islice

    from tl_reasoning.corpora import iter_texts, load_corpus

    if spec is None and not organism:
        return None
    texts = list(islice(iter_texts(load_corpus(spec or "organism:reasoning")), RANDOM_WORD_DOCS))
    if not texts:
        raise ValueError(f"--random-words-from {spec} holds no documents")
    return texts


def _spec_names(paths: list[str]) -> dict[str, str]:
    """``{condition name: spec path}`` for ``--spec`` (``spec:<stem>``, numbered when stems repeat); specs checked."""
    from tl_reasoning.steering.saved import read_spec

    names: dict[str, str] = {}
    for path in paths:
        read_spec(path)
        name = f"spec:{Path(path).name.removesuffix('.json')}"
        names[name if name not in names else f"{name}#{len(names) + 1}"] = path
    return names


def _spec_conditions(specs: dict[str, str], model: Any, args: argparse.Namespace) -> dict[str, Any]:
    """One condition (all the spec's steerings together) per ``--spec``; a spec naming no SAE uses ``--sae``."""
    from tl_reasoning.loading.saes import load_sae
    from tl_reasoning.steering.saved import load_steering, read_spec

    out: dict[str, Any] = {}
    for name, path in specs.items():
        refs = read_spec(path)[0].get("saes") or []
        sae = load_sae(args.sae, sae_id=args.sae_id, device=args.device) if refs and not all(
            r.get("ref") for r in refs) else None
        out[name] = load_steering(path, sae=sae, model=model, device=args.device)
    return out


def run(args: argparse.Namespace) -> int:
    from tl_reasoning.evaluation import (
        RandomWordBans,
        WordBan,
        evaluate,
        load_eval_benchmark,
        matched_random_features,
        random_feature_conditions,
        steering_conditions,
    )
    from tl_reasoning.figures import save_png
    from tl_reasoning.loading.models import load_model
    from tl_reasoning.loading.saes import check_sae_compatible, load_sae
    from tl_reasoning.positions import Positions
    from tl_reasoning.steering.fmax import f_max_from_stats
    from tl_reasoning.steering.spec import MODES_WITHOUT_F_MAX, intervention_factory
    from tl_reasoning.threads import apply_thread_policy

    features = int_list(args.features, "--features")
    strengths = float_list(args.strength, "--strength")
    n_controls = _controls(args.controls)
    if features and not strengths:
        raise ValueError("--strength needs at least one value")
    for name, value in (("--max-new-tokens", args.max_new_tokens), ("--samples", args.samples),
                        ("--batch-size", args.batch_size), ("--word-ban-runs", args.word_ban_runs)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if n_controls and not features:
        raise ValueError("--controls random:N matches random features to the steered ones; pass --features too")
    intervention_factory(args.mode)  # unknown mode: fail before loading anything
    specs = _spec_names(args.spec)  # a bad spec fails before any model loads
    positions = Positions.parse(args.positions)
    items = load_eval_benchmark(args.benchmark, args.limit, format=args.format, seed=args.seed)
    f_max_given = float_list(args.f_max, "--f-max") if args.f_max else None
    if f_max_given is not None and len(f_max_given) not in (1, len(features)):
        raise ValueError(f"--f-max takes one value or one per feature ({len(features)}), got {len(f_max_given)}")
    organism = args.model in _ORGANISMS
    needs_f_max = bool(features) and args.mode not in MODES_WITHOUT_F_MAX
    if needs_f_max and f_max_given is None and not args.stats and not organism:
        raise ValueError(f"no f_max for features {features}: pass --stats DIR (ReasonScore statistics with per-feature "
                         "maxima, written by `tl-reasoning score`) or --f-max V")
    if n_controls and not args.stats and not organism:
        raise ValueError("--controls random:N needs activation frequencies: pass --stats DIR (ReasonScore statistics "
                         "with histograms, written by `tl-reasoning score`)")

    if not args.quiet:
        steered = (len(features) * len(strengths) * (1 + n_controls) + (1 + args.word_ban_runs if args.word_ban else 0)
                   + len(specs))
        print(workload_line(args.model, len(items), args.samples, steered, args.max_new_tokens, args.device),
              file=sys.stderr, flush=True)
    sae = None
    if features:
        sae = load_sae(args.sae, sae_id=args.sae_id, device=args.device)
        d_sae = int(sae.cfg.d_sae)
        bad = [f for f in features if not 0 <= f < d_sae]
        if bad:
            raise ValueError(f"unknown feature index {bad[0]}: the SAE has {d_sae} features (0..{d_sae - 1})")
    model = load_model(args.model, backend=args.backend, device=args.device)
    apply_thread_policy(model, threads=getattr(args, "threads", None))
    conditions: dict[str, Any] = {}
    if features:
        site = check_sae_compatible(model, sae, None)
        estimated = _organism_activations(model, sae, site) if (organism and not args.stats and
                                                                 (n_controls or (needs_f_max and f_max_given is None))) \
            else None
        if f_max_given is not None:
            f_max: Any = f_max_given * len(features) if len(f_max_given) == 1 else f_max_given
        elif args.stats:
            f_max = f_max_from_stats(args.stats, features, sae=sae, sae_name=args.sae).tolist() if needs_f_max else None
        elif estimated is not None and needs_f_max:
            f_max = [float(estimated[1][f]) for f in features]
        else:
            f_max = None
        conditions.update(steering_conditions(sae, features, strengths, mode=args.mode, f_max=f_max,
                                              positions=positions, site=site))
        if n_controls:
            source = args.stats if args.stats else estimated[0]
            table = None if args.stats else estimated[1]
            matches = matched_random_features(source, features, n_controls, args.seed, f_max=table, norms=sae,
                                              push_tolerance=args.push_tolerance)
            if matches.shortfall:
                print("evaluate: WARNING too few push-matched controls: " + ", ".join(
                    f"#{c} {n}/{n_controls}" for c, n in matches.shortfall.items()), file=sys.stderr, flush=True)
            conditions.update(random_feature_conditions(sae, matches, strengths, mode=args.mode,
                                                        positions=positions, site=site))
    conditions.update(_spec_conditions(specs, model, args))
    if args.word_ban:
        conditions["word ban"] = WordBan(args.vocab)
        conditions["random words"] = RandomWordBans(n_runs=args.word_ban_runs, seed=args.seed,
                                                    texts=_thinking_texts(args.random_words_from, organism))
    sampled = args.samples > 1 or args.temperature is not None
    result = evaluate(
        model, items, conditions, n_samples=args.samples, max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size, do_sample=sampled,
        temperature=args.temperature if args.temperature is not None else 0.6, top_p=args.top_p, seed=args.seed,
        think_end=args.think_end, vocab=args.vocab, n_boot=args.n_boot, progress=not args.quiet,
    )
    out = result.save(args.out)
    files = ["summary.csv", "records.csv", "generations.jsonl"]
    if not result.plot_frame().empty:
        save_png(result.plot(), Path(out) / "steering_results.png")
        files.append("steering_results.png")
    print(f"{len(items)} problems x {args.samples} sample(s), {len(result.conditions)} conditions, "
          f"model {args.model}, benchmark {args.benchmark}")
    print(result.table())
    print(f"\n{result.config['criteria_text']} gates: ok = all three pass; no:acc/fin/rep = the failed ones.")
    print(f"\nwrote {out}/ ({', '.join(files)}, ...)")
    return 0
