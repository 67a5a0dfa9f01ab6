"""The organism build's quality minimums and its ``report.md`` (rendered from ``report.json``).

``python -m tl_reasoning.organism.report_md [--root DIR]`` re-renders ``report.md`` from an
existing ``report.json`` (no retraining), with the ground truth and artifact sizes as they are on disk.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["quality", "render"]


def quality(r: dict[str, Any]) -> dict[str, bool]:
    """The organism's minimums (issues 3 and 15): fixed thresholds, checked on the measured numbers."""
    ev, base, smp = r["eval"]["organism"], r["eval"]["organism-base"], r["eval"]["organism_sampled"]
    q = {
        "organism_well_formed_ge_0.95": (ev["well_formed_rate"] or 0) >= 0.95,
        "base_no_thinking": (base["think_rate"] or 0) <= 0.01,
        "sampled_accuracy_in_0.75_0.90": 0.75 <= (smp["accuracy"] or 0) <= 0.90,
        "recheck_hard_gt_3x_easy": (smp["p_recheck_hard"] or 0) > 3 * (smp["p_recheck_easy"] or 0),
        "rechecks_rescue_slips_ge_0.3": (smp["rescue_rate"] or 0) >= 0.3,
        "base_tokens_gt_finetune_tokens": r["train_base"]["tokens"] > r["train_reasoning"]["tokens"],
        "artifacts_le_25MB": r["artifact_bytes"]["total"] <= 25 * 2**20,
        "build_le_60min": r["timings_s"]["total"] <= 3600,
    }
    gt = r.get("ground_truth") or {}
    if gt:
        q["oracle_heldout_auc_hard_ge_0.8"] = gt["oracle"]["heldout_auc_hard"] >= 0.8
    for name, s in r["sae"].items():
        q[f"sae_{name}_ev_ge_0.7"] = s["explained_variance"] >= 0.7
        q[f"sae_{name}_dead_lt_0.1"] = s["dead_fraction"] < 0.1
        q[f"sae_{name}_max_share_q95_lt_0.5"] = s["max_latent_share_of_norm_q95"] < 0.5
    return q


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(str(c) for c in row) + " |" for row in rows]]


def render(r: dict[str, Any]) -> str:
    """``report.md`` of a build record."""
    ev, base, smp = r["eval"]["organism"], r["eval"]["organism-base"], r["eval"]["organism_sampled"]
    m = r["model"]
    ts = r["data"]["trace_statistics"]
    lines = [
        "# Model organism training report (world v3)",
        "",
        f"Seed {r['seed']}, budget `{r['budget']['size']}`; rebuilt by `python -m tl_reasoning.organism.train`. "
        "Every number is measured by the run that wrote this file.",
        "",
        "## Models",
        f"- Llama-style: d_model {m['d_model']}, {m['n_layers']} layers, {m['n_heads']} heads, d_mlp {m['d_mlp']}, "
        f"ctx {m['n_ctx']}, vocab {m['vocab']}, {m['n_params']:,} parameters",
        f"- organism-base: {r['train_base']['tokens']:,} plain tokens, final loss {r['train_base']['final_loss']:.4f}",
        f"- organism: + {r['train_reasoning']['tokens']:,} fine-tune tokens (reasoning traces + 20 % plain), "
        f"final loss {r['train_reasoning']['final_loss']:.4f}",
        "",
        "## Training traces (what the world teaches)",
        *_table(["P(slip) hard / easy", "P(recheck) hard / easy", "rescue rate", "traces correct"],
                [[f"{ts['p_slip_hard']} / {ts['p_slip_easy']}", f"{ts['p_recheck_hard']} / {ts['p_recheck_easy']}",
                  ts["rescue_rate"], r["data"]["reasoning_train_correct_rate"]]]),
        "",
        f"## Benchmark ({ev['n']} held-out problems)",
        *_table(["metric", "organism greedy", f"organism sampled (T {smp['temperature']}, top-p {smp['top_p']}, "
                 f"n={smp['n']})", "organism-base greedy"],
                [["accuracy", ev["accuracy"], smp["accuracy"], base["accuracy"]],
                 ["well-formed", ev["well_formed_rate"], "", base["well_formed_rate"]],
                 ["think rate", ev["think_rate"], "", base["think_rate"]]]),
        "",
        "Sampled generations, annotated step by step:",
        *_table(["P(slip) hard / easy", "P(recheck) hard / easy", "P(hard | recheck)", "slips", "rescued",
                 "accuracy with / without a slip"],
                [[f"{smp['p_slip_hard']} / {smp['p_slip_easy']}", f"{smp['p_recheck_hard']} / {smp['p_recheck_easy']}",
                  smp["p_hard_given_recheck"], smp["n_slips"], smp["rescue_rate"],
                  f"{smp['accuracy_with_slip']} / {smp['accuracy_without_slip']}"]]),
        "",
        f"## SAEs on blocks.{r['layer']}.hook_resid_post (metrics on held-out reasoning + plain tokens)",
        *_table(["SAE", "architecture", "d_sae", "k / λ", "mean L0", "explained variance", "dead fraction",
                 "max latent share of ‖x‖ (q95)"],
                [[n, s["architecture"], s["d_sae"], s.get("k", s.get("l1_coefficient")), s["mean_l0"],
                  s["explained_variance"], s["dead_fraction"], s["max_latent_share_of_norm_q95"]]
                 for n, s in r["sae"].items()]),
    ]
    relu = r["sae"].get("organism-relu")
    if relu:
        lines += ["", f"ReLU λ: held-out L0 of short fits by λ {relu['l1_sweep']}; the λ nearest L0 "
                  f"{r['budget']['sae_target_l0']} (log scale) was trained in full."]
    st = r.get("stages", {}).get("stages", {})
    if st:
        lines += ["", "Stage SAEs (TopK, model diffing):",
                  *_table(["stage", "model", "data", "from", "tokens", "L0", "EV"],
                          [[k, v["model"], v["data"], v["parent"] or "scratch", v["training_tokens"], v["mean_l0"],
                            v["explained_variance"]] for k, v in st.items()])]
    gt = r.get("ground_truth")
    if gt:
        lines += ["", "## Planted ground truth (held-out reasoning corpus, decision points)",
                  f"- {gt['n_decisions']} decision points, {gt['hard_fraction']:.1%} hard; the model's P(reflect) "
                  f"hard {gt['p_reflect_mean']['hard']} vs easy {gt['p_reflect_mean']['easy']} "
                  f"(AUC for hard {gt['p_reflect_auc_for_hard']})",
                  f"- oracle direction: held-out AUC for hard {gt['oracle']['heldout_auc_hard']}, "
                  f"for high P(reflect) {gt['oracle']['heldout_auc_p_reflect']}",
                  *[f"- SAE {n}: {len(s['features'])} ground-truth features (best AUC hard {s['best_auc_hard']}, "
                    f"P(reflect) {s['best_auc_p_reflect']})" for n, s in gt["saes"].items()]]
    lines += ["", "## Quality minimums", *[f"- {k}: {'PASS' if v else 'FAIL'}" for k, v in r["quality"].items()],
              "", "## Time and size", f"- timings (s): {r['timings_s']}",
              f"- artifact bytes: {r['artifact_bytes']}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from . import artifact_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=None)
    args = ap.parse_args(argv)
    root = Path(args.root or artifact_dir())
    r = json.loads((root / "report.json").read_text())
    truth = root / "ground_truth" / "truth.json"
    if truth.is_file():  # rebuilt on its own (python -m tl_reasoning.organism.ground_truth)
        r["ground_truth"] = json.loads(truth.read_text())
    sizes = {p.name: sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
             for p in sorted(root.iterdir()) if p.is_dir()}
    r["artifact_bytes"] = {**sizes, "total": sum(sizes.values())}
    r["quality"] = quality(r)
    (root / "report.json").write_text(json.dumps(r, indent=2))
    (root / "report.md").write_text(render(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
