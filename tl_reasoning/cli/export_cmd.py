"""``tl-reasoning export``: features as files Neuronpedia imports (dashboard batches, steering vectors)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from tl_reasoning.cli.argtypes import finite_float, positive_int

FORMATS = ("neuronpedia", "neuronpedia-vectors")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="export features for Neuronpedia (dashboards or steering vectors)",
                       description="neuronpedia: the top-K features of a `tl-reasoning score` run as SAEDashboard "
                                   "NeuronpediaRunner batch files (top activations, logit lens, histograms, "
                                   "descriptions). neuronpedia-vectors: their steering directions (or a saved "
                                   "steering spec's) in Neuronpedia's vector format. Nothing is uploaded.")
    p.add_argument("--format", choices=FORMATS, default="neuronpedia", help="what to write (default neuronpedia)")
    p.add_argument("--model", default=None, help="model spec (organism, a directory, a Hugging Face id); "
                                                 "needed for --format neuronpedia")
    p.add_argument("--sae", default=None, help="SAE spec (organism, a directory, a sae-lens release)")
    p.add_argument("--scores", default=None, help="directory written by `tl-reasoning score`")
    p.add_argument("--data", default=None, help="corpus for the top activations (default: the scoring run's data)")
    p.add_argument("--top", type=positive_int, default=20, help="number of features (default 20)")
    p.add_argument("--features", default=None, help="comma-separated feature ids instead of --top")
    p.add_argument("--explanations", default=None, metavar="PATH",
                   help="`tl-reasoning interpret` output folder or its explanations.json")
    p.add_argument("--spec", default=None, help="neuronpedia-vectors: a steering spec (`steer --save`) as the source")
    p.add_argument("--strength", type=finite_float, default=2.0,
                   help="neuronpedia-vectors: γ of the default steer strength γ·f_max (default 2)")
    p.add_argument("--model-id", default=None, help="Neuronpedia model id (default: from the SAE's Neuronpedia id)")
    p.add_argument("--source-id", default=None,
                   help="Neuronpedia source id '<layer>-<set>' (default: from the SAE's Neuronpedia id)")
    p.add_argument("--max-docs", type=positive_int, default=400, help="documents searched (default 400)")
    p.add_argument("--contexts", type=positive_int, default=20, help="top activations per feature (default 20)")
    p.add_argument("--context-size", type=positive_int, default=None,
                   help="tokens per document searched (default: the model's context)")
    p.add_argument("--backend", default=None, help="hooked | bridge | nnsight")
    p.add_argument("--device", default=None)
    p.add_argument("--out", required=True, help="output folder (new or empty; an earlier export with --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export in --out")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import tl_reasoning
    from tl_reasoning.neuronpedia import export_neuronpedia, export_neuronpedia_vectors
    from tl_reasoning.neuronpedia.output import prepare_dir

    start = time.perf_counter()
    features = _features(args.features)
    if args.format == "neuronpedia-vectors" and args.sae is None and args.spec is None:
        raise ValueError("--format neuronpedia-vectors needs --sae (with --features or --scores) or --spec")
    missing = [flag for flag in ("model", "sae", "scores") if getattr(args, flag) is None]
    if args.format == "neuronpedia" and missing:
        raise ValueError(f"--format neuronpedia needs {', '.join('--' + m for m in missing)}")
    prepare_dir(args.out, args.overwrite)  # refuse before anything loads
    sae_kwargs = {"device": args.device} if args.device else {}
    if args.format == "neuronpedia-vectors":
        sae = tl_reasoning.load_sae(args.sae, **sae_kwargs) if args.sae else None
        result = export_neuronpedia_vectors(sae, args.out, features=features, scores=args.scores, top=args.top,
                                            spec=args.spec, strength=args.strength, model_id=args.model_id,
                                            explanations=args.explanations, overwrite=args.overwrite,
                                            sae_name=args.sae)
    else:
        from tl_reasoning.cli.loading import load_model_and_sae, scored_data

        data = scored_data(args)
        model, sae = load_model_and_sae(args)
        result = export_neuronpedia(model, sae, args.scores, data, args.out, features=features, top=args.top,
                                    contexts=args.contexts, max_docs=args.max_docs, context_size=args.context_size,
                                    explanations=args.explanations, model_id=args.model_id,
                                    source_id=args.source_id, overwrite=args.overwrite, progress=True,
                                    sae_name=args.sae)
    checked = result.manifest.get("validated_with") or "no neuronpedia package: structural checks only"
    print(f"wrote {result.out_dir} ({', '.join(result.files)}; checked with {checked}; "
          f"{time.perf_counter() - start:.1f} s)", file=sys.stderr)
    print(result.out_dir)
    return 0


def _features(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(f) for f in text.split(",") if f.strip()]
    except ValueError:
        raise ValueError(f"--features {text!r} is not a comma-separated list of feature ids such as 12,40") from None
