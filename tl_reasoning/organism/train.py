"""Rebuild the whole model organism from scratch with a fixed seed.

world v3 data -> tokenizer -> organism-base (plain text) -> organism (reasoning fine-tune of the
base) -> SAEs (TopK + ReLU on the organism, TopK on the base, five stage SAEs) -> greedy and sampled
benchmark evaluation -> planted ground truth -> ``report.md`` + ``report.json``.

Usage::

    python -m tl_reasoning.organism.train --out DIR [--seed 0] [--quick]

``--quick`` trains tiny models on a tiny budget (about a minute) through the same code path; the
default budget reproduces the committed artifacts within 60 minutes on 2 CPU cores (report.json
``timings_s`` has the measured time).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import LAYER, model_dir
from .build_steps import build_saes, evaluate_both, trace_statistics
from .data import save_split
from .world_v3 import generate_corpus_v3

__all__ = ["Budget", "BUDGETS", "build"]


@dataclass(frozen=True)
class Budget:
    """Sizes and training budgets of one rebuild."""

    size: str = "full"  # key of lm.SIZES
    vocab_size: int = 512
    n_plain_pool: int = 100_000  # plain documents generated for base training
    n_reasoning_pool: int = 48_000  # reasoning documents generated for the fine-tune
    finetune_plain_fraction: float = 0.2  # share of plain documents mixed into the fine-tune
    base_tokens: int = 6_000_000  # more than the fine-tune: the base is a model in its own right
    base_lr: float = 2e-3
    reasoning_tokens: int = 4_500_000
    reasoning_lr: float = 1.5e-3
    batch_tokens: int = 4096
    d_sae: int = 1024
    sae_k: int = 16
    sae_l1_grid: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 20.0)  # ReLU λ candidates (the paper: 5)
    sae_target_l0: float = 20.0  # the ReLU λ whose short fit lands nearest this L0 (log scale) is used
    sae_act_tokens: int = 1_000_000  # residual rows collected per model for the SAEs
    sae_tokens: int = 3_000_000  # SAE training samples (rows are revisited ~2x)
    stage_d_sae: int = 768
    stage_scratch_tokens: int = 1_500_000
    stage_act_tokens: int = 400_000  # rows per (model, corpus) for the stage SAEs
    n_benchmark: int = 200
    n_heldout: int = 1000
    n_saved_train: int = 3000
    n_tokenizer_docs: int = 6000
    eval_batch_size: int = 100
    n_sampled: int = 2  # samples per benchmark problem at T 0.6 / top-p 0.95


BUDGETS: dict[str, Budget] = {
    "full": Budget(),
    "quick": Budget(
        size="quick",
        vocab_size=320,
        n_plain_pool=600,
        n_reasoning_pool=300,
        base_tokens=12_000,
        reasoning_tokens=10_000,
        batch_tokens=2048,
        d_sae=256,
        sae_k=8,
        sae_l1_grid=(2.0, 5.0),
        sae_act_tokens=8_192,
        sae_tokens=8_192,
        stage_d_sae=128,
        stage_scratch_tokens=4096,
        stage_act_tokens=4096,
        n_benchmark=16,
        n_heldout=40,
        n_saved_train=100,
        n_tokenizer_docs=600,
        n_sampled=1,
    ),
}


def _log(msg: str) -> None:
    sys.stderr.write(f"[organism {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def build(
    out: str | os.PathLike[str], seed: int = 0, budget: Budget | None = None, resume: bool = False,
    threads: int = 1,
) -> dict[str, Any]:
    """Run the full pipeline into ``out``; returns the report dict (also written to disk).

    With ``resume``, the tokenizer and each model whose stage record (``stages/<stage>.json``)
    and weights already exist in ``out`` are reused instead of retrained (the pipeline is
    deterministic, so an interrupted rebuild continues where it stopped).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("WANDB_MODE", "disabled")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch

    from .lm import SIZES, TrainConfig, encode_documents, new_model, train_lm
    from .tokenizer import load_tokenizer, train_tokenizer

    torch.set_num_threads(threads)  # 1: no stalls when another job shares the cores
    budget = budget or BUDGETS["full"]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    timings: dict[str, float] = {}
    report: dict[str, Any] = {"seed": seed, "world": "v3", "budget": asdict(budget), "layer": LAYER}

    # ---- data: benchmark and held-out problems first, so training streams can exclude them
    bench = generate_corpus_v3("benchmark", budget.n_benchmark, seed)
    bench_q = {d["question"] for d in bench}
    held_r = generate_corpus_v3("reasoning", budget.n_heldout, seed, split="heldout", exclude=bench_q)
    held_p = generate_corpus_v3("plain", budget.n_heldout, seed, split="heldout", exclude=bench_q)
    unseen = bench_q | {d["question"] for d in held_r + held_p if "question" in d}
    train_p = generate_corpus_v3("plain", budget.n_plain_pool, seed, exclude=unseen)
    train_r = generate_corpus_v3("reasoning", budget.n_reasoning_pool, seed, exclude=unseen)
    for docs, corpus, split in (
        (bench, "benchmark", "test"),
        (held_r, "reasoning", "heldout"),
        (held_p, "plain", "heldout"),
        (train_r[: budget.n_saved_train], "reasoning", "train"),
        (train_p[: budget.n_saved_train], "plain", "train"),
    ):
        save_split(docs, corpus, split, out)
    n_r = budget.n_tokenizer_docs // 2
    report["data"] = {
        "benchmark": len(bench),
        "reasoning_train_pool": len(train_r),
        "plain_train_pool": len(train_p),
        "heldout": {"reasoning": len(held_r), "plain": len(held_p)},
        "reasoning_train_correct_rate": round(sum(d["correct"] for d in train_r) / len(train_r), 4),
        "trace_statistics": trace_statistics(train_r),
    }
    timings["data"] = time.time() - t0

    # ---- tokenizer
    tok_dir = out / "tokenizer"
    if resume and (tok_dir / "tokenizer.json").is_file():
        tok = load_tokenizer(tok_dir)
    else:
        tok = train_tokenizer([d["text"] for d in train_r[:n_r] + train_p[:n_r]], tok_dir, budget.vocab_size)
    report["tokenizer"] = {"vocab_size": len(tok)}
    timings["tokenizer"] = time.time() - t0 - sum(timings.values())

    # ---- organism-base: plain text only
    size = SIZES[budget.size]
    plain_ids = encode_documents([d["text"] for d in train_p], tok, size.n_ctx)
    reason_ids = encode_documents([d["text"] for d in train_r], tok, size.n_ctx)
    report["data"]["mean_tokens"] = {
        "plain": round(sum(map(len, plain_ids)) / len(plain_ids), 1),
        "reasoning": round(sum(map(len, reason_ids)) / len(reason_ids), 1),
        "reasoning_max": max(map(len, reason_ids)),
    }
    base = new_model(len(tok), size, tok, seed=seed)
    report["model"] = {
        **asdict(size),
        "n_params": sum(p.numel() for p in base.parameters()),
        "vocab": len(tok),
    }
    _log(f"training organism-base ({report['model']['n_params']} params) on {budget.base_tokens} tokens")
    base_cfg = TrainConfig(
        tokens=budget.base_tokens, lr=budget.base_lr, batch_tokens=budget.batch_tokens, seed=seed
    )
    base_dir = model_dir("organism-base", out)
    org_dir = model_dir("organism", out)
    if resume and _stage_done(out, "train_base", base_dir) and _stage_done(out, "train_reasoning", org_dir):
        _log("resume: both models already trained")
        report["train_base"] = {**_stage_load(out, "train_base"), "resumed": True}
    elif resume and _stage_done(out, "train_base", base_dir):
        _log("resume: reusing organism-base")
        from transformers import AutoModelForCausalLM

        base = AutoModelForCausalLM.from_pretrained(str(base_dir))
        report["train_base"] = {**_stage_load(out, "train_base"), "resumed": True}
    else:
        report["train_base"] = train_lm(base, lambda e: plain_ids, base_cfg, tok.pad_token_id, _log)
        base.save_pretrained(str(base_dir))
        tok.save_pretrained(str(base_dir))
        _stage_save(out, "train_base", report["train_base"])
    timings["train_base"] = report["train_base"]["seconds"]

    # ---- organism: the base fine-tuned on reasoning traces (+ some plain text)
    n_mix = int(len(reason_ids) * budget.finetune_plain_fraction / (1 - budget.finetune_plain_fraction))
    mix_rng = random.Random(f"mix-{seed}")
    finetune_ids = reason_ids + mix_rng.sample(plain_ids, min(n_mix, len(plain_ids)))
    _log(f"fine-tuning organism on {budget.reasoning_tokens} tokens")
    ft_cfg = TrainConfig(
        tokens=budget.reasoning_tokens,
        lr=budget.reasoning_lr,
        batch_tokens=budget.batch_tokens,
        warmup_frac=0.03,
        seed=seed + 1,
    )
    if resume and _stage_done(out, "train_reasoning", org_dir):
        report["train_reasoning"] = {**_stage_load(out, "train_reasoning"), "resumed": True}
    else:
        report["train_reasoning"] = train_lm(base, lambda e: finetune_ids, ft_cfg, tok.pad_token_id, _log)
        base.save_pretrained(str(org_dir))
        tok.save_pretrained(str(org_dir))
        _stage_save(out, "train_reasoning", report["train_reasoning"])
    timings["train_reasoning"] = report["train_reasoning"]["seconds"]
    del base

    # ---- SAEs on blocks.{LAYER}.hook_resid_post: TopK + ReLU on the organism, TopK on the base, stages
    ts = time.time()
    report["sae"], report["stages"] = build_saes(out, train_r, train_p, held_r, held_p, budget, seed, _log)
    timings["saes"] = time.time() - ts

    # ---- evaluation on the held-out benchmark: greedy, and sampled with per-step ground truth
    te = time.time()
    report["eval"], report["examples"] = evaluate_both(out, bench, budget, seed, _log)
    timings["eval"] = time.time() - te

    # ---- planted ground truth: per-token labels, the model's own P(reflect), oracle, true features
    tg = time.time()
    from .ground_truth import build_ground_truth

    report["ground_truth"] = build_ground_truth(out, log=_log)
    timings["ground_truth"] = time.time() - tg

    # a resumed build reused trained models: their recorded training time counts, this run's wall time too
    resumed = sum(report[k]["seconds"] for k in ("train_base", "train_reasoning")
                  if resume and timings.get(k) is not None and k in report and report[k].get("resumed"))
    timings["total"] = time.time() - t0 + resumed
    report["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    sizes = {p.name: _dir_size(p) for p in sorted(out.iterdir()) if p.is_dir()}
    report["artifact_bytes"] = {**sizes, "total": sum(sizes.values())}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    from .report_md import quality, render

    report["quality"] = quality(report)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(render(report))
    _log(f"done in {timings['total']:.0f}s; quality: {report['quality']}")
    return report


def _stage_save(out: Path, stage: str, summary: dict[str, Any]) -> None:
    path = out / "stages" / f"{stage}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2))


def _stage_load(out: Path, stage: str) -> dict[str, Any]:
    return json.loads((out / "stages" / f"{stage}.json").read_text())


def _stage_done(out: Path, stage: str, weights_dir: Path) -> bool:
    return (out / "stages" / f"{stage}.json").is_file() and (weights_dir / "model.safetensors").is_file()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tl_reasoning.organism.train", description=__doc__.split("\n")[1]
    )
    ap.add_argument("--out", required=True, help="output directory (becomes an artifacts directory)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="tiny smoke-test budget (< 60 s)")
    ap.add_argument(
        "--resume", action="store_true", help="reuse the tokenizer/models already trained in --out"
    )
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1: a small model trains almost as fast, and a second job on "
                         "the machine cannot stall it)")
    args = ap.parse_args(argv)
    build(args.out, seed=args.seed, budget=BUDGETS["quick" if args.quick else "full"], resume=args.resume,
          threads=args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
