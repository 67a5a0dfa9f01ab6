"""The SAE and evaluation steps of the organism build (:mod:`.train`), one function each."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import HOOK_NAME, LAYER, model_dir, relu_sae_dir, sae_dir

__all__ = ["trace_statistics", "build_saes", "evaluate_both"]


def trace_statistics(docs: Sequence[dict]) -> dict[str, Any]:
    """What the training traces teach: slip / recheck rates by difficulty and how often rechecks rescue."""
    steps = [s for d in docs for s in d["steps"]]
    hard = [s for s in steps if s["hard"]]
    easy = [s for s in steps if not s["hard"]]
    slips = [s for s in steps if s["slip"]]

    def rate(xs: list[dict], key: str) -> float:
        return round(sum(bool(s[key]) for s in xs) / max(len(xs), 1), 4)

    return {
        "n_steps": len(steps),
        "hard_fraction": round(len(hard) / max(len(steps), 1), 4),
        "p_slip_hard": rate(hard, "slip"),
        "p_slip_easy": rate(easy, "slip"),
        "p_recheck_hard": rate(hard, "reflected"),
        "p_recheck_easy": rate(easy, "reflected"),
        "rescue_rate": rate(slips, "corrected"),
    }


def _mix(train_r: Sequence[dict], train_p: Sequence[dict], seed: int) -> list[str]:
    texts = [d["text"] for d in train_r[: len(train_r) // 2]] + [d["text"] for d in train_p[: len(train_p) // 3]]
    random.Random(f"sae-{seed}").shuffle(texts)
    return texts


def build_saes(
    out: Path,
    train_r: Sequence[dict],
    train_p: Sequence[dict],
    held_r: Sequence[dict],
    held_p: Sequence[dict],
    budget: Any,
    seed: int,
    log: Callable[[str], None],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """TopK + ReLU SAEs on the organism, a TopK SAE on the base and the five stage SAEs; returns records."""
    from .sae_fit import collect_activations, fit_sae, sae_site_metrics
    from .stages import fit_stages

    org_dir, base_dir = model_dir("organism", out), model_dir("organism-base", out)
    mix = _mix(train_r, train_p, seed)
    held = [d["text"] for d in held_r[:300]] + [d["text"] for d in held_p[:300]]
    record: dict[str, Any] = {}
    for name, mdir in (("organism", org_dir), ("organism-base", base_dir)):
        t = time.time()
        acts = collect_activations(mdir, mix, LAYER, budget.sae_act_tokens)
        x_held = collect_activations(mdir, held, LAYER)
        log(f"{name}: {acts.shape[0]} residual rows in {time.time() - t:.0f}s")
        variants = [("topk", sae_dir(name, out), {"k": budget.sae_k})]
        if name == "organism":
            lam, sweep = _calibrate_l1(acts, x_held, budget, seed)
            log(f"ReLU λ sweep (L0 by λ): {sweep}; using λ = {lam}")
            variants.append(("relu", relu_sae_dir(out), {"l1_coefficient": lam}))
        for arch, path, extra in variants:
            t = time.time()
            sae = fit_sae(acts, path, arch=arch, d_sae=budget.d_sae, training_tokens=budget.sae_tokens,
                          model_name=name, hook_name=HOOK_NAME, seed=seed, **extra)
            key = name if arch == "topk" else f"{name}-relu"
            record[key] = {"architecture": arch, "d_sae": budget.d_sae, **extra,
                           "training_tokens": budget.sae_tokens, "activation_rows": int(acts.shape[0]),
                           **sae_site_metrics(sae, x_held), "seconds": round(time.time() - t, 1)}
            if arch == "relu":
                record[key]["l1_sweep"] = sweep
            log(f"SAE {key}: {record[key]}")
    t = time.time()
    stages = fit_stages(out / "sae_stages", {"organism": org_dir, "organism-base": base_dir},
                        {"plain": [d["text"] for d in train_p], "reasoning": [d["text"] for d in train_r]},
                        held, d_sae=budget.stage_d_sae, k=budget.sae_k,
                        scratch_tokens=budget.stage_scratch_tokens, act_tokens=budget.stage_act_tokens,
                        seed=seed, log=log)
    log(f"stage SAEs in {time.time() - t:.0f}s")
    return record, stages


def _calibrate_l1(acts: Any, x_held: Any, budget: Any, seed: int) -> tuple[float, dict[str, float]]:
    """The λ of ``budget.sae_l1_grid`` whose short fit's held-out L0 is nearest ``sae_target_l0`` (log)."""
    import tempfile

    from .sae_fit import fit_sae, sae_site_metrics

    sweep: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="l1_sweep_") as tmp:
        for lam in budget.sae_l1_grid:
            sae = fit_sae(acts, Path(tmp) / str(lam), arch="relu", d_sae=budget.d_sae,
                          training_tokens=max(budget.sae_tokens // 10, 4096), model_name="organism",
                          hook_name=HOOK_NAME, l1_coefficient=lam, seed=seed)
            sweep[str(lam)] = sae_site_metrics(sae, x_held)["mean_l0"]
    best = min(budget.sae_l1_grid,
               key=lambda lam: abs(math.log(max(sweep[str(lam)], 1e-3) / budget.sae_target_l0)))
    return float(best), sweep


def evaluate_both(
    out: Path, bench: Sequence[dict], budget: Any, seed: int, log: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Greedy metrics of both models and the organism's sampled metrics with step statistics."""
    import json

    from .evaluate import evaluate_model
    from .sampled_eval import sampled_evaluation

    metrics: dict[str, Any] = {}
    examples: dict[str, Any] = {}
    for name, reasoning in (("organism", True), ("organism-base", False)):
        m, gens = evaluate_model(model_dir(name, out), bench, reasoning=reasoning,
                                 batch_size=budget.eval_batch_size)
        metrics[name], examples[name] = m, gens[:2]
        log(f"eval {name} (greedy): {json.dumps(m)}")
    m, gens = sampled_evaluation(model_dir("organism", out), bench, n_samples=budget.n_sampled, seed=seed,
                                 batch_size=budget.eval_batch_size)
    metrics["organism_sampled"], examples["organism_sampled"] = m, gens[:4]
    log(f"eval organism (sampled): {json.dumps(m)}")
    return metrics, examples
