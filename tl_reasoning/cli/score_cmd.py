"""``tl-reasoning score``: ReasonScore of every SAE feature over a corpus, in one pass.

Writes ``DIR/scores.csv`` (one row per feature, best first), ``DIR/stats.safetensors`` (the
mergeable statistics, also the checkpoint of a running job) and ``DIR/meta.json``, and prints the
top features. Rerunning the same command after a kill resumes from the checkpoint. ``--stats FILE``
rescores saved statistics (other α, quantile) without the model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tl_reasoning.cli.argtypes import nonnegative_float, positive_int, probability

if TYPE_CHECKING:
    from tl_reasoning.scoring.result import ScoreResult
    from tl_reasoning.stats import FeatureStats


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "score", help="ReasonScore of every SAE feature over a corpus (one pass)",
        description="Collect per-feature statistics of --sae on --model over --data in one forward pass per "
        "batch, score every feature (ReasonScore, paper Eq. 5) with control scores, select candidates above the "
        "--quantile, and write DIR/scores.csv, DIR/stats.safetensors and DIR/meta.json.",
    )
    parser.add_argument("--model", help="registered name, local HF directory or Hub id")
    parser.add_argument("--sae", help="registered name, local sae-lens directory, release/id or repo/folder")
    parser.add_argument("--sae-id", help="SAE id inside a sae-lens release or folder inside a Hub repo")
    parser.add_argument("--site", help="override the SAE's hook site, e.g. blocks.19.hook_resid_post")
    parser.add_argument("--data", help="corpus: organism:reasoning, a .txt/.jsonl/.parquet file or a datasets dir")
    parser.add_argument("--text-field", default="text", help="text field of JSONL/parquet/datasets rows (default text)")
    parser.add_argument("--vocab", help="comma-separated words, or a file (one per line, JSON list or "
                        "{group: [variants]}, or a 'vocab mine' CSV/JSON); default: the paper's 10 words")
    parser.add_argument("--window", default="1,2", type=_window,
                        help="tokens before,after each match (default 1,2 as the official code; the paper: 2,3)")
    parser.add_argument("--alpha", type=nonnegative_float, default=0.7, help="entropy exponent α (default 0.7)")
    parser.add_argument("--quantile", type=probability, default=0.997, help="select features above this quantile (0.997)")
    parser.add_argument("--context-size", type=int, default=None,
                        help="tokens per document incl. BOS (default: the model's context; longer documents are "
                        "truncated and counted)")
    parser.add_argument("--max-tokens", type=positive_int, help="stop after counting this many tokens")
    parser.add_argument("--max-docs", type=positive_int, help="stop after this many documents")
    parser.add_argument("--batch-size", type=positive_int, default=8, help="documents per forward pass (default 8)")
    parser.add_argument("--backend", default="auto", help="bridge, hooked, nnsight or auto (default)")
    parser.add_argument("--device", default=None, help="torch device (default cpu)")
    parser.add_argument("--dtype", default=None, help="model and SAE dtype, e.g. float32, bfloat16")
    parser.add_argument("--no-decoder-norm", action="store_true",
                        help="use raw sae.encode activations instead of f_i·‖d_i‖, d_i = decode(e_i) − decode(0)")
    parser.add_argument("--no-word-boundary", action="store_true",
                        help="match vocabulary ids anywhere, also inside longer words (the official code)")
    parser.add_argument("--checkpoint-every", type=positive_int, default=50,
                        help="save DIR/stats.safetensors every N batches (default 50; 0: only at the end)")
    parser.add_argument("--overwrite", action="store_true", help="ignore existing statistics in DIR and start afresh")
    parser.add_argument("--stats", help="score a saved stats.safetensors instead of running a model")
    parser.add_argument("--top", type=positive_int, default=15, help="features printed (default 15)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--out", required=True, help="output directory")
    from tl_reasoning.remote.cli import add_remote_arguments

    add_remote_arguments(parser, scoring=True)
    parser.set_defaults(run=run)


def _window(text: str) -> tuple[int, int]:
    try:
        before, after = (int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--window takes two integers B,A such as 1,2; got {text!r}") from None
    if before < 0 or after < 0:
        raise argparse.ArgumentTypeError(f"--window values must be >= 0; got {text!r}")
    return before, after


def run(args: argparse.Namespace) -> int:
    from tl_reasoning.scoring.outputs import check_output_dir
    from tl_reasoning.scoring.result import score_stats
    from tl_reasoning.stats import FeatureStats

    out = check_output_dir(args.out)  # before any compute: an unwritable --out must not lose a run
    if not 0.0 <= args.quantile <= 1.0:
        raise ValueError(f"--quantile must be in [0, 1] (default 0.997), got {args.quantile}")
    if not args.alpha >= 0 or args.alpha == float("inf"):
        raise ValueError(f"--alpha must be a finite number >= 0 (default 0.7), got {args.alpha}")
    if args.stats:
        stats = FeatureStats.load(args.stats)
    else:
        missing = [f"--{n}" for n in ("model", "sae", "data") if getattr(args, n) is None]
        if missing:
            raise ValueError(f"score needs {', '.join(missing)} (or --stats FILE to rescore saved statistics)")
        stats = _collect(args, out)
    cut = stats.meta.get("truncated") or {}
    if cut.get("docs"):
        print(f"warning: {cut['docs']} documents were longer than the context of {cut.get('context_size')} tokens; "
              f"{cut['tokens']} tokens past it were not counted (recorded in meta.json 'truncated')", file=sys.stderr)
    result = score_stats(stats, alpha=args.alpha, quantile=args.quantile)
    paths = result.save(out, stats=not (args.stats and Path(args.stats).resolve() == (out / "stats.safetensors").resolve()))
    _print_top(result, args.top)
    print(f"\n{len(result.selected)} of {stats.n_features} features selected (ReasonScore > "
          f"{result.threshold:.3g}, the {args.quantile} quantile) over {stats.tokens_seen} tokens of "
          f"{stats.docs_seen} documents")
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _collect(args: argparse.Namespace, out: Path) -> FeatureStats:
    import warnings

    from tl_reasoning.loading.models import load_model
    from tl_reasoning.loading.saes import load_sae
    from tl_reasoning.scoring.collect import collect_stats
    from tl_reasoning.scoring.config import StatsConfig
    from tl_reasoning.threads import apply_thread_policy

    config = StatsConfig(window=args.window, decoder_norm=not args.no_decoder_norm,
                         word_boundary=not args.no_word_boundary, context_size=args.context_size,
                         batch_size=args.batch_size, max_tokens=args.max_tokens, max_docs=args.max_docs)
    from tl_reasoning.remote.cli import remote_from_args

    target = remote_from_args(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = load_model(args.model, backend=args.backend, device=args.device, dtype=args.dtype)
    apply_thread_policy(model, threads=getattr(args, "threads", None))
    sae = load_sae(args.sae, sae_id=args.sae_id, device=args.device, dtype=args.dtype)
    checkpoint = out / "stats.safetensors"
    if checkpoint.exists() and not args.overwrite:
        print(f"resuming from {checkpoint} (--overwrite to start afresh)", file=sys.stderr)
    sources = {"model": args.model, "sae": args.sae, "sae_id": args.sae_id, "data": args.data,
               "text_field": args.text_field, "vocab": args.vocab, "max_tokens": args.max_tokens,
               "max_docs": args.max_docs}
    return collect_stats(model, sae, args.data, vocab=args.vocab, config=config, site=args.site,
                         text_field=args.text_field, checkpoint=checkpoint, checkpoint_every=args.checkpoint_every,
                         resume=not args.overwrite, progress=not args.no_progress, sources=sources,
                         remote=target, remote_mode=args.remote_mode, remote_dtype=args.remote_dtype,
                         remote_batches=args.remote_batches)


def _print_top(result: ScoreResult, n: int) -> None:
    cols = ["rank", "feature", "reason_score", "mean_reasoning", "mean_other", "entropy", "top_word",
            "separability", "word_concentration", "matched_share", "selected"]
    table = result.table.head(n)
    print(table[[c for c in cols if c in table.columns]].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
