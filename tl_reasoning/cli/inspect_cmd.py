"""``tl-reasoning inspect``: load a model (and an SAE) and report what tl-reasoning sees."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "inspect", help="load a model and SAE and check they fit",
        description="Load --model on --backend, optionally --sae, and print the backend, layers, width, "
        "special tokens and whether the SAE's hook site exists and its width matches.",
    )
    parser.add_argument("--model", required=True, help="registered name, local HF directory or Hub id")
    parser.add_argument("--sae", help="registered name, local sae-lens directory, release/id or repo/folder")
    parser.add_argument("--sae-id", help="SAE id inside a sae-lens release or folder inside a Hub repo")
    parser.add_argument("--site", help="override the SAE's hook site, e.g. blocks.19.hook_resid_post")
    parser.add_argument("--backend", default="auto", help="bridge, hooked, nnsight or auto (default)")
    parser.add_argument("--device", default=None, help="torch device (default cpu)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tl_reasoning.loading.models import load_model
    from tl_reasoning.loading.saes import check_sae_compatible, load_sae
    from tl_reasoning.plugins import backend_for
    from tl_reasoning.threads import apply_thread_policy

    model = load_model(args.model, backend=args.backend, device=args.device)
    apply_thread_policy(model, threads=getattr(args, "threads", None))
    backend = backend_for(model)
    report: dict = {
        "model": args.model, "backend": backend.kind, "class": type(model).__name__,
        "n_layers": backend.n_layers, "d_model": backend.d_model, "device": str(backend.device),
        "bos_token_id": backend.bos_token_id, "eos_token_id": backend.eos_token_id,
        "pad_token_id": backend.pad_token_id,
    }
    if args.sae:
        sae = load_sae(args.sae, sae_id=args.sae_id, device=args.device)
        report["sae"] = {"spec": args.sae, "architecture": sae.cfg.architecture(), "d_in": int(sae.cfg.d_in),
                         "d_sae": int(sae.cfg.d_sae), "site": check_sae_compatible(model, sae, args.site)}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:>14}: {value}")
    return 0
