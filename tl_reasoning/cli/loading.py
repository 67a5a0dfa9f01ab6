"""What the commands that read a `tl-reasoning score` folder share: its data, the model and the SAE."""

from __future__ import annotations

import argparse
from typing import Any


def scored_data(args: argparse.Namespace) -> Any:
    """``--data``, else the data the scoring run recorded in ``--scores``/meta.json."""
    from tl_reasoning.dashboard import load_scores

    _, meta, _ = load_scores(args.scores)
    data = args.data or meta.get("sources", {}).get("data")
    if not data:
        raise ValueError(f"{args.scores}/meta.json names no data; pass --data")
    return data


def load_model_and_sae(args: argparse.Namespace) -> tuple[Any, Any]:
    """``--model`` (``--backend``, ``--device``; torch threads by the automatic rule) and ``--sae``."""
    import tl_reasoning
    from tl_reasoning.threads import apply_thread_policy

    kwargs = {k: v for k, v in (("backend", args.backend), ("device", args.device)) if v}
    model = tl_reasoning.load_model(args.model, **kwargs)
    apply_thread_policy(model, threads=getattr(args, "threads", None))
    sae = tl_reasoning.load_sae(args.sae, **({"device": args.device} if args.device else {}))
    return model, sae
