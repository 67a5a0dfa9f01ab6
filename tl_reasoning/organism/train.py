"""Rebuild the whole model organism from scratch with a fixed seed.

data -> tokenizer -> organism-base (plain text) -> organism (reasoning fine-tune of the base)
-> one SAE per model -> benchmark evaluation -> ``report.md`` + ``report.json``.

Usage::

    python -m tl_reasoning.organism.train --out DIR [--seed 0] [--quick]

``--quick`` trains tiny models on a tiny budget (< 60 s) through the same code path; the
default budget reproduces the committed artifacts in about 20 minutes on 2 CPU cores.
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

from . import LAYER, model_dir, sae_dir
from .data import save_split
from .world import generate_corpus

__all__ = ["Budget", "BUDGETS", "build"]


@dataclass(frozen=True)
class Budget:
    """Sizes and training budgets of one rebuild."""

    size: str = "full"  # key of lm.SIZES
    vocab_size: int = 512
    n_plain_pool: int = 60_000  # plain documents generated for base training
    n_reasoning_pool: int = 48_000  # reasoning documents generated for the fine-tune
    finetune_plain_fraction: float = 0.2  # share of plain documents mixed into the fine-tune
    base_tokens: int = 2_500_000
    base_lr: float = 3e-3
    reasoning_tokens: int = 9_000_000
    reasoning_lr: float = 2e-3
    batch_tokens: int = 4096
    d_sae: int = 1024
    sae_k: int = 32
    sae_tokens: int = 2_000_000
    sae_context: int = 128
    n_benchmark: int = 200
    n_heldout: int = 1000
    n_saved_train: int = 3000
    n_tokenizer_docs: int = 6000
    eval_batch_size: int = 100


BUDGETS: dict[str, Budget] = {
    "full": Budget(),
    "quick": Budget(
        size="quick",
        vocab_size=320,
        n_plain_pool=600,
        n_reasoning_pool=300,
        base_tokens=12_000,
        reasoning_tokens=24_000,
        batch_tokens=2048,
        d_sae=256,
        sae_k=8,
        sae_tokens=8_192,
        sae_context=64,
        n_benchmark=16,
        n_heldout=40,
        n_saved_train=100,
        n_tokenizer_docs=600,
    ),
}


def _log(msg: str) -> None:
    sys.stderr.write(f"[organism {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def build(
    out: str | os.PathLike[str], seed: int = 0, budget: Budget | None = None, resume: bool = False
) -> dict[str, Any]:
    """Run the full pipeline into ``out``; returns the report dict (also written to disk).

    With ``resume``, the tokenizer and each model whose stage record (``stages/<stage>.json``)
    and weights already exist in ``out`` are reused instead of retrained (the pipeline is
    deterministic, so an interrupted rebuild continues where it stopped).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("WANDB_MODE", "disabled")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    from .evaluate import evaluate_model
    from .lm import SIZES, TrainConfig, encode_documents, new_model, train_lm
    from .sae import sae_metrics, train_sae
    from .tokenizer import load_tokenizer, train_tokenizer

    torch.set_num_threads(2)
    budget = budget or BUDGETS["full"]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    timings: dict[str, float] = {}
    report: dict[str, Any] = {"seed": seed, "budget": asdict(budget), "layer": LAYER}

    # ---- data: benchmark and held-out problems first, so training streams can exclude them
    bench = generate_corpus("benchmark", budget.n_benchmark, seed)
    held_r = generate_corpus("reasoning", budget.n_heldout, seed, split="heldout")
    held_p = generate_corpus("plain", budget.n_heldout, seed, split="heldout")
    unseen = {d["question"] for d in bench} | {d["question"] for d in held_r + held_p if "question" in d}
    bench_q = {d["question"] for d in bench}
    held_r = [d for d in held_r if d["question"] not in bench_q]
    held_p = [d for d in held_p if d.get("question") not in bench_q]
    train_p = generate_corpus("plain", budget.n_plain_pool, seed, exclude=unseen)
    train_r = generate_corpus("reasoning", budget.n_reasoning_pool, seed, exclude=unseen)
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
        "reasoning_train_correct_rate_by_checks": _correct_by_checks(train_r),
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
        report["train_base"] = _stage_load(out, "train_base")
    elif resume and _stage_done(out, "train_base", base_dir):
        _log("resume: reusing organism-base")
        from transformers import AutoModelForCausalLM

        base = AutoModelForCausalLM.from_pretrained(str(base_dir))
        report["train_base"] = _stage_load(out, "train_base")
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
        report["train_reasoning"] = _stage_load(out, "train_reasoning")
    else:
        report["train_reasoning"] = train_lm(base, lambda e: finetune_ids, ft_cfg, tok.pad_token_id, _log)
        base.save_pretrained(str(org_dir))
        tok.save_pretrained(str(org_dir))
        _stage_save(out, "train_reasoning", report["train_reasoning"])
    timings["train_reasoning"] = report["train_reasoning"]["seconds"]

    # ---- SAEs on blocks.{LAYER}.hook_resid_post of each model
    sae_docs = [d["text"] for d in train_r[: len(train_r) // 2]] + [
        d["text"] for d in train_p[: len(train_p) // 3]
    ]
    eval_docs = [d["text"] for d in held_r[:300]] + [d["text"] for d in held_p[:300]]
    report["sae"] = {}
    for name, mdir in (("organism", org_dir), ("organism-base", base_dir)):
        ts = time.time()
        _log(f"training SAE for {name}")
        sae = train_sae(
            mdir,
            sae_docs,
            sae_dir(name, out),
            model_name=name,
            layer=LAYER,
            d_sae=budget.d_sae,
            k=budget.sae_k,
            training_tokens=budget.sae_tokens,
            context_size=budget.sae_context,
            seed=seed,
        )
        report["sae"][name] = {
            "d_sae": budget.d_sae,
            "k": budget.sae_k,
            "training_tokens": budget.sae_tokens,
            **sae_metrics(mdir, sae, eval_docs, layer=LAYER),
            "seconds": round(time.time() - ts, 1),
        }
        timings[f"sae_{name}"] = time.time() - ts
        _log(f"SAE {name}: {report['sae'][name]}")

    # ---- evaluation on the held-out benchmark
    te = time.time()
    report["eval"] = {}
    for name, mdir, reasoning in (("organism", org_dir, True), ("organism-base", base_dir, False)):
        metrics, gens = evaluate_model(mdir, bench, reasoning=reasoning, batch_size=budget.eval_batch_size)
        report["eval"][name] = metrics
        report.setdefault("examples", {})[name] = gens[:2]
        _log(f"eval {name}: {json.dumps(metrics)}")
    timings["eval"] = time.time() - te

    timings["total"] = time.time() - t0
    report["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    sizes = {p.name: _dir_size(p) for p in sorted(out.iterdir()) if p.is_dir()}
    report["artifact_bytes"] = {**sizes, "total": sum(sizes.values())}
    report["quality"] = _quality(report)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(_markdown(report))
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


def _correct_by_checks(docs: Sequence[dict]) -> dict[str, Any]:
    """Share of training traces ending correct, by whether they verify (data-level causality)."""
    ver = [d for d in docs if d["n_checks"] > 0]
    nov = [d for d in docs if d["n_checks"] == 0]
    return {
        "verifying": round(sum(d["correct"] for d in ver) / max(len(ver), 1), 4),
        "not_verifying": round(sum(d["correct"] for d in nov) / max(len(nov), 1), 4),
        "n_verifying": len(ver),
        "n_not_verifying": len(nov),
    }


def _quality(r: dict[str, Any]) -> dict[str, bool]:
    """The quality minimums of the committed organism (see issue #3)."""
    ev, base = r["eval"]["organism"], r["eval"]["organism-base"]
    q = {
        "organism_accuracy_ge_0.8": (ev["accuracy"] or 0) >= 0.8,
        "organism_well_formed_ge_0.95": (ev["well_formed_rate"] or 0) >= 0.95,
        "organism_vocab_rate_ge_0.5": (ev["vocab_rate"] or 0) >= 0.5,
        "base_no_thinking": (base["think_rate"] or 0) <= 0.01,
    }
    for name, s in r["sae"].items():
        q[f"sae_{name}_ev_ge_0.8"] = s["explained_variance"] >= 0.8
        q[f"sae_{name}_dead_lt_0.1"] = s["dead_fraction"] < 0.1
        q[f"sae_{name}_l0_5_to_100"] = 5 <= s["mean_l0"] <= 100
    return q


def _markdown(r: dict[str, Any]) -> str:
    ev, base = r["eval"]["organism"], r["eval"]["organism-base"]
    lines = [
        "# Model organism training report",
        "",
        f"Seed {r['seed']}, budget `{r['budget']['size']}`; rebuilt by "
        "`python -m tl_reasoning.organism.train`. Numbers are measured by the run that wrote this file.",
        "",
        "## Models",
        f"- Llama-style: d_model {r['model']['d_model']}, {r['model']['n_layers']} layers, "
        f"{r['model']['n_heads']} heads, d_mlp {r['model']['d_mlp']}, ctx {r['model']['n_ctx']}, "
        f"vocab {r['model']['vocab']}, {r['model']['n_params']:,} parameters",
        f"- organism-base: {r['train_base']['tokens']:,} plain tokens, final loss {r['train_base']['final_loss']:.4f}",
        f"- organism: + {r['train_reasoning']['tokens']:,} reasoning-fine-tune tokens, "
        f"final loss {r['train_reasoning']['final_loss']:.4f}",
        *[
            f"- note ({stage}): {r[stage]['recovered_from_log']}"
            for stage in ("train_base", "train_reasoning")
            if "recovered_from_log" in r[stage]
        ],
        "",
        f"## Benchmark ({ev['n']} held-out problems, greedy)",
        "| metric | organism | organism-base |",
        "|---|---|---|",
    ]
    for key in ("accuracy", "well_formed_rate", "think_rate", "vocab_rate", "mean_thinking_words"):
        lines.append(f"| {key} | {ev[key]} | {base[key]} |")
    for kind, acc in ev["accuracy_by_kind"].items():
        lines.append(f"| accuracy[{kind}] | {acc} | {base['accuracy_by_kind'].get(kind)} |")
    rf = ev["reflection"]
    d = r["data"]["reasoning_train_correct_rate_by_checks"]
    lines += [
        "",
        "## Reflection is causal",
        f"- organism generations that verify/correct: accuracy {rf['accuracy_verifying']} (n={rf['n_verifying']}); "
        f"without verification: {rf['accuracy_not_verifying']} (n={rf['n_not_verifying']}); "
        f"generations with a correction: {rf['n_correcting']}",
        f"- training traces ending correct: {d['verifying']} with verification (n={d['n_verifying']}) vs "
        f"{d['not_verifying']} without (n={d['n_not_verifying']})",
        "",
        f"## SAEs (TopK, blocks.{r['layer']}.hook_resid_post, metrics on held-out reasoning+plain tokens)",
        "| model | d_sae | k | mean L0 | explained variance | dead fraction |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in r["sae"].items():
        lines.append(
            f"| {name} | {s['d_sae']} | {s['k']} | {s['mean_l0']} | {s['explained_variance']} | {s['dead_fraction']} |"
        )
    lines += [
        "",
        "## Quality minimums",
        *[f"- {k}: {'PASS' if v else 'FAIL'}" for k, v in r["quality"].items()],
    ]
    lines += [
        "",
        "## Time and size",
        f"- timings (s): {r['timings_s']}",
        f"- artifact bytes: {r['artifact_bytes']}",
        "",
    ]
    return "\n".join(lines)


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
    args = ap.parse_args(argv)
    build(args.out, seed=args.seed, budget=BUDGETS["quick" if args.quick else "full"], resume=args.resume)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
