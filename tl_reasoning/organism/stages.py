"""Stage-wise SAE diffing on the model organism (Bricken et al. 2024; the paper's "Model diffing").

``S`` is a TopK SAE on ``organism-base`` activations over plain text, trained from scratch with the
budget of the shipped SAEs. Each later stage fine-tunes its parent's weights for
``finetune_fraction`` of the from-scratch tokens::

    S   -> SD  (base model,      reasoning data) -> SDF (reasoning model, reasoning data)
    S   -> SM  (reasoning model, plain data)     -> SMF (reasoning model, reasoning data)

``python -m tl_reasoning.organism.stages --out DIR [--quick]`` writes the sae-lens directories
``DIR/S``, ``DIR/SD``, ``DIR/SDF``, ``DIR/SM``, ``DIR/SMF`` and ``DIR/stages.json`` (settings,
seconds and held-out L0 / explained variance / dead fraction per stage). The shipped run lives in
``artifacts/sae_stages`` and is loadable as ``organism-stage-<STAGE>``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import LAYER, artifact_dir, model_dir

__all__ = ["STAGES", "Stage", "StageSettings", "stage_dir", "train_stages", "stage_presence", "main"]


@dataclass(frozen=True)
class Stage:
    """One SAE of the stage-wise run: ``parent`` (None: from scratch), the model and the corpus."""

    name: str
    parent: str | None
    model: str  # "organism-base" or "organism"
    data: str  # "plain" or "reasoning"


STAGES: tuple[Stage, ...] = (
    Stage("S", None, "organism-base", "plain"),
    Stage("SD", "S", "organism-base", "reasoning"),
    Stage("SDF", "SD", "organism", "reasoning"),
    Stage("SM", "S", "organism", "plain"),
    Stage("SMF", "SM", "organism", "reasoning"),
)
STAGE_NAMES = tuple(s.name for s in STAGES)


@dataclass(frozen=True)
class StageSettings:
    d_sae: int = 768
    k: int = 16
    scratch_tokens: int = 1_500_000
    finetune_fraction: float = 0.3
    act_tokens: int = 600_000  # residual rows per (model, corpus)
    n_plain_docs: int = 40_000
    n_reasoning_docs: int = 8_000
    n_eval_docs: int = 300  # per corpus, held-out
    seed: int = 0

    @property
    def finetune_tokens(self) -> int:
        return int(round(self.scratch_tokens * self.finetune_fraction))


QUICK = StageSettings(d_sae=128, k=8, scratch_tokens=8192, act_tokens=4096, n_plain_docs=300,
                      n_reasoning_docs=100, n_eval_docs=4)


def stage_dir(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """sae-lens directory of stage ``name`` (default root: the shipped ``artifacts/sae_stages``)."""
    if name not in STAGE_NAMES:
        raise KeyError(f"unknown stage {name!r}; expected one of {STAGE_NAMES}")
    return (Path(root) if root is not None else artifact_dir() / "sae_stages") / name


def fit_stages(
    out: str | os.PathLike[str],
    model_dirs: dict[str, Path],
    corpora: dict[str, list[str]],
    held: list[str],
    *,
    d_sae: int,
    k: int,
    scratch_tokens: int,
    act_tokens: int,
    finetune_fraction: float = 0.3,
    seed: int = 0,
    log: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Fit the five stage SAEs into ``out`` from cached residuals; write and return ``stages.json``.

    ``model_dirs`` maps "organism"/"organism-base" to HF directories, ``corpora`` maps "plain" /
    "reasoning" to training texts; ``held`` are held-out texts for the metrics.
    """
    from .sae_fit import collect_activations, fit_sae, sae_site_metrics

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    acts = {(m, c): collect_activations(model_dirs[m], corpora[c], LAYER, act_tokens)
            for m in model_dirs for c in corpora}
    x_held = {m: collect_activations(model_dirs[m], held, LAYER) for m in model_dirs}
    finetune_tokens = int(round(scratch_tokens * finetune_fraction))
    record: dict[str, Any] = {
        "settings": {"d_sae": d_sae, "k": k, "scratch_tokens": scratch_tokens,
                     "finetune_fraction": finetune_fraction, "finetune_tokens": finetune_tokens,
                     "act_tokens": act_tokens, "seed": seed, "layer": LAYER,
                     "hook_name": f"blocks.{LAYER}.hook_resid_post",
                     "eval_docs": "held-out reasoning + plain documents of the build"},
        "stages": {},
    }
    for i, stage in enumerate(STAGES):
        t0 = time.time()
        tokens = scratch_tokens if stage.parent is None else finetune_tokens
        log(f"stage {stage.name}: {stage.model} on {stage.data}, {tokens} tokens"
            + (f", from {stage.parent}" if stage.parent else ", from scratch"))
        sae = fit_sae(acts[(stage.model, stage.data)], out / stage.name, arch="topk", d_sae=d_sae, k=k,
                      training_tokens=tokens, model_name=stage.model,
                      hook_name=f"blocks.{LAYER}.hook_resid_post", seed=seed + i,
                      init_from=None if stage.parent is None else out / stage.parent)
        record["stages"][stage.name] = {**asdict(stage), "training_tokens": tokens,
                                        "seconds": round(time.time() - t0, 1),
                                        **sae_site_metrics(sae, x_held[stage.model])}
        log(f"stage {stage.name}: {record['stages'][stage.name]}")
    (out / "stages.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def train_stages(
    out: str | os.PathLike[str],
    settings: StageSettings = StageSettings(),
    log: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Train the five stage SAEs of the shipped models into ``out`` (world-v3 corpora of ``settings.seed``)."""
    from .data import load_split
    from .world_v3 import generate_corpus_v3

    corpora = {
        "plain": [d["text"] for d in generate_corpus_v3("plain", settings.n_plain_docs, settings.seed)],
        "reasoning": [d["text"] for d in generate_corpus_v3("reasoning", settings.n_reasoning_docs, settings.seed)],
    }
    n = settings.n_eval_docs
    held = [d["text"] for d in load_split("reasoning", "heldout")[:n]] + [
        d["text"] for d in load_split("plain", "heldout")[:n]
    ]
    return fit_stages(out, {m: model_dir(m) for m in ("organism", "organism-base")}, corpora, held,
                      d_sae=settings.d_sae, k=settings.k, scratch_tokens=settings.scratch_tokens,
                      act_tokens=settings.act_tokens, finetune_fraction=settings.finetune_fraction,
                      seed=settings.seed, log=log)


def stage_presence(
    root: str | os.PathLike[str] | None = None,
    *,
    top: int = 20,
    max_docs: int = 200,
    n_random: int = 200,
    threshold: float = 0.7,
    seed: int = 0,
    scores: Any = None,
    write: bool = True,
) -> Any:
    """Presence of the top-``top`` ReasonScore features of the ``organism`` SAE in every stage SAE.

    Candidates are scored on ``organism:reasoning`` (``max_docs`` documents) unless ``scores`` (a
    ``ScoreResult`` or a ``tl-reasoning score --out`` directory with ``stats.safetensors``) is given; the random baseline is ``n_random`` frequency-matched non-candidate
    features of the same SAE. The shipped ``organism-base`` SAE is included as a reference target.
    With ``write``, ``presence.json`` and ``presence.txt`` go into ``root``. Returns the
    :class:`~tl_reasoning.diffing.PresenceResult`.
    """
    import torch

    import tl_reasoning
    from tl_reasoning.diffing import cross_layer_presence, load_candidates
    from tl_reasoning.loading.saes import load_sae_dir

    root = Path(root) if root is not None else artifact_dir() / "sae_stages"
    sae = tl_reasoning.load_sae("organism")
    if scores is None:
        model = tl_reasoning.load_model("organism", backend="hooked")
        scores = tl_reasoning.score_features(model, sae, "organism:reasoning", max_docs=max_docs)
    cands = load_candidates(scores, top=top)
    freq = scores.stats if hasattr(scores, "stats") else scores  # a ScoreResult, or a `score --out` dir
    saes: dict[str, Any] = {"organism": sae}
    for name in STAGE_NAMES:
        saes[name] = load_sae_dir(stage_dir(name, root), "cpu", torch.float32)
    saes["organism-base"] = tl_reasoning.load_sae("organism-base")
    result = cross_layer_presence(saes, {"organism": cands}, threshold=threshold, n_random=n_random, seed=seed,
                                  frequencies_by_name={"organism": freq},
                                  targets=[*STAGE_NAMES, "organism-base"])
    if write:
        record = {"candidates": f"top {top} ReasonScore features of the organism SAE on organism:reasoning "
                                f"({max_docs} docs)", **result.to_json()}
        (root / "presence.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
        (root / "presence.txt").write_text(result.summary() + "\n")
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output directory (DIR/S, DIR/SD, ..., DIR/stages.json)")
    ap.add_argument("--quick", action="store_true", help="tiny budget (smoke test)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--presence", action="store_true",
                    help="also measure the presence of the organism SAE's top ReasonScore features in each stage")
    ap.add_argument("--presence-only", action="store_true", help="only measure presence (stages already in --out)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    settings = QUICK if args.quick else StageSettings()
    if args.seed != settings.seed:
        settings = StageSettings(**{**asdict(settings), "seed": args.seed})
    if not args.presence_only:
        train_stages(args.out, settings)
    if args.presence or args.presence_only:
        sys.stdout.write(stage_presence(args.out).summary() + "\n")


if __name__ == "__main__":
    main()
