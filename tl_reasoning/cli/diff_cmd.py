"""``tl-reasoning diff``: model diffing, are a reasoning SAE's candidates present in the base SAE?

Matches the decoder directions of the ReasonScore candidates of ``--sae`` against ``--base-sae``
(and every ``--also`` SAE: other layers, other stages), compares with random features of the same
SAE, prints the summary table and writes ``diff.json``, CSV tables and ``diff.png`` into ``--out``.
Works offline on the organism by default (``--sae organism --base-sae organism-base``).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any

from tl_reasoning.cli.argtypes import nonnegative_int, probability

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "diff", help="model diffing: share of reasoning features present in the base model's SAE",
        description="For the ReasonScore candidates of --sae, find the most similar decoder direction of "
        "--base-sae (and of each --also SAE); a feature is present when the cosine is >= --threshold. "
        "Compared with --random random features of --sae (activation-frequency matched when statistics are "
        "available). Writes diff.json, diff_summary.csv, diff_features.csv, diff_matrix.csv and diff.png.",
    )
    p.add_argument("--sae", default="organism", help="the reasoning model's SAE (default organism)")
    p.add_argument("--base-sae", default="organism-base", help="the base model's SAE (default organism-base)")
    p.add_argument("--scores", help="`tl-reasoning score` output of --sae: a directory or its scores.csv")
    pick = p.add_mutually_exclusive_group()
    pick.add_argument("--top", type=_positive, help="the N best-ranked features of --scores as candidates "
                      "(default: the selected ones)")
    pick.add_argument("--features", type=_feature_list, help="explicit candidate ids, e.g. 12,40,7")
    p.add_argument("--base-scores", help="scores of --base-sae: also report its candidates present in --sae")
    p.add_argument("--threshold", type=probability, default=0.7, help="cosine for 'present' (default 0.7, the paper)")
    p.add_argument("--random", type=_non_negative, default=200,
                   help="random non-candidate features as baseline (default 200; 0: none)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the random features (default 0)")
    p.add_argument("--stats", help="stats.safetensors (or its directory) of --sae for frequency-matched random "
                   "features; default: the one next to --scores, if any")
    p.add_argument("--uniform", action="store_true", help="uniform random features even when statistics exist")
    p.add_argument("--also", action="append", default=[], type=_labelled, metavar="LABEL=SAE",
                   help="another SAE of the same width to match against (repeatable), e.g. L3=path/to/sae")
    p.add_argument("--one-to-one", choices=("best", "mutual", "greedy"), default="best",
                   help="best: any best match (default); mutual: mutual nearest neighbours; greedy: one-to-one")
    p.add_argument("--chunk", type=_positive, default=4096, help="rows per similarity block (memory bound)")
    p.add_argument("--device", default=None, help="torch device for the matching (default cpu)")
    p.add_argument("--no-figure", action="store_true", help="do not write diff.png")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(run=run)


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _feature_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--features takes comma-separated integers such as 1,2,3; got {text!r}") \
            from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"--features takes non-negative feature ids; got {text!r}")
    return values


def _labelled(text: str) -> tuple[str, str]:
    label, sep, spec = text.partition("=")
    if not sep or not label.strip() or not spec.strip():
        raise argparse.ArgumentTypeError(f"--also takes LABEL=SAE, e.g. L3=path/to/sae; got {text!r}")
    return label.strip(), spec.strip()


def run(args: argparse.Namespace) -> int:
    from tl_reasoning.diffing import cross_layer_presence, load_candidates
    from tl_reasoning.diffing.decoders import decoder_label
    from tl_reasoning.scoring.outputs import check_output_dir
    from tl_reasoning.threads import apply_thread_policy, count_parameters

    check_output_dir(args.out)  # before any compute
    if args.scores is None and args.features is None:
        raise ValueError("diff needs candidates: --scores DIR (with --top N or its selected features) or --features")
    if not -1.0 <= args.threshold <= 1.0:
        raise ValueError(f"--threshold is a cosine and must lie in [-1, 1], got {args.threshold}")
    specs = {decoder_label(args.sae): args.sae, decoder_label(args.base_sae): args.base_sae}
    if len(specs) < 2:
        raise ValueError(f"--sae and --base-sae are the same SAE ({args.sae!r})")
    for label, spec in args.also:
        if label in specs:
            raise ValueError(f"--also label {label!r} is already used; labels: {', '.join(specs)}")
        specs[label] = spec
    name, base_name = list(specs)[:2]
    saes = {label: _load(spec) for label, spec in specs.items()}
    # the SAEs are what diffing computes with: the thread rule goes by the largest
    apply_thread_policy(max(saes.values(), key=lambda s: count_parameters(s) or 0),
                        threads=getattr(args, "threads", None))
    candidates = load_candidates(args.scores, top=args.top, features=args.features)
    by_name: dict[str, Any] = {name: candidates}
    if args.scores:
        _check_scores_sae(args.scores, saes[name], "--scores", "--sae", args.sae)
    if args.base_scores:
        _check_scores_sae(args.base_scores, saes[base_name], "--base-scores", "--base-sae", args.base_sae)
        by_name[base_name] = load_candidates(args.base_scores, top=args.top)
    frequencies = {}
    if not args.uniform:
        for label, scores, stats in ((name, args.scores, args.stats), (base_name, args.base_scores, None)):
            found = _stats_path(scores, stats)
            if found is not None and label in by_name:
                if label == name:
                    _check_stats_sae(found, saes[name], args.sae)
                frequencies[label] = found
    result = cross_layer_presence(saes, by_name, threshold=args.threshold, n_random=args.random, seed=args.seed,
                                  frequencies_by_name=frequencies, one_to_one=args.one_to_one, chunk=args.chunk,
                                  device=args.device)
    result.settings["sources"] = {"saes": specs, "scores": args.scores, "base_scores": args.base_scores,
                                  "stats": {k: str(v) for k, v in frequencies.items()}}
    paths = result.save(args.out, figure=not args.no_figure)
    print(result.summary())
    if len(saes) > 2:
        print("\npresence of candidates (rows: source, columns: target)")
        print(result.matrix("candidates").dropna(how="all").to_string(float_format=lambda v: f"{v:.2f}"))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _load(spec: str) -> Any:
    from tl_reasoning.loading.saes import load_sae

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_sae(spec)


def _stats_path(scores: str | None, stats: str | None) -> Path | None:
    """``--stats`` if given (must exist), else ``stats.safetensors`` next to the scores, if present."""
    if stats is not None:
        path = Path(stats)
        path = path / "stats.safetensors" if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(f"--stats: {path} not found")
        return path
    if scores is None:
        return None
    root = Path(scores)
    candidate = (root if root.is_dir() else root.parent) / "stats.safetensors"
    return candidate if candidate.is_file() else None


def _check_scores_sae(scores: str, sae: Any, flag: str, sae_flag: str, sae_spec: str | None = None) -> None:
    """Refuse scores (their ``meta.json``) computed for another SAE than the one matched (decoder hash)."""
    from tl_reasoning.stats_checks import check_sae_matches, read_score_meta

    found = read_score_meta(scores)
    if found is None:
        return
    meta = found[0]
    check_sae_matches(meta, sae, f"{flag} {scores}", f"{sae_flag} {sae_spec}" if sae_spec else sae_flag,
                      fix=f"pass the scores of {sae_flag} (`tl-reasoning score --sae {sae_spec or 'SAE'} ... --out DIR`)"
                      f" or the SAE they were scored with as {sae_flag}")


def _check_stats_sae(path: Path, sae: Any, sae_spec: str) -> None:
    """Refuse --stats statistics recorded for another SAE than --sae."""
    from tl_reasoning.stats import FeatureStats
    from tl_reasoning.stats_checks import check_sae_matches

    check_sae_matches(FeatureStats.load(path).meta, sae, f"the statistics {path}", f"--sae {sae_spec}",
                      fix=f"pass --stats of --sae (`tl-reasoning score --sae {sae_spec} ... --out DIR`) or --uniform")
