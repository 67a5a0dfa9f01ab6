"""Planted ground truth of the organism: which latents and which direction carry "reflect here".

World v3 plants a cause for reflection: a step's hidden difficulty (:func:`.world_v3.is_hard`).
At the **decision point** of a step (the newline token after its first attempt) the model decides
whether the next line is a recheck. Per token of the held-out reasoning corpus this module records
the step's difficulty, the region (attempt / recheck / decision) and, at decision points, the
model's own probability that a reflection comes next (P(reflect): the next-token mass on the first
tokens of the recheck openers) and whether one followed in the text.

The rule (fixed before any result was seen, issue 15):

* a latent of an SAE is a **ground-truth reasoning feature** iff, over decision points, its
  activation separates hard from easy steps with ROC AUC ≥ 0.8, or separates decision points whose
  P(reflect) is above the median from those below with AUC ≥ 0.8, and it is active at ≥ 1 % of them;
* the **oracle direction** is the difference of mean residuals (at the SAE site) between hard and
  easy decision points, unit-normed: the positive control for steering.

Fit on the first half of the held-out documents, reported (probe AUC) on the second half.
``tokens.safetensors`` holds, per token of the held-out reasoning corpus, ``doc``, ``pos``, ``hard``
(-1 outside a step), ``region`` (0 other, 1 attempt, 2 recheck, 3 decision), ``decision`` (0/1) and
``reflected`` (-1 off decision points), and ``decision_p_reflect``: P(reflect) at each decision token.
``python -m tl_reasoning.organism.ground_truth [--root DIR]`` rebuilds ``DIR/ground_truth``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from . import HOOK_NAME, LAYER, artifact_dir, model_dir, relu_sae_dir, sae_dir

__all__ = ["AUC_THRESHOLD", "MIN_ACTIVE", "auc", "reflect_token_ids", "decision_data",
           "ground_truth_features", "build_ground_truth", "load_ground_truth", "ground_truth_dir"]

AUC_THRESHOLD = 0.8
MIN_ACTIVE = 0.01
#: The organism SAEs the rule is applied to: registry name -> directory under an artifacts root.
SAE_DIRS = {"organism": lambda root: sae_dir("organism", root), "organism-relu": relu_sae_dir}


def ground_truth_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """``ground_truth`` directory of an artifacts root (default: the shipped artifacts)."""
    return Path(root or artifact_dir()) / "ground_truth"


def auc(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """ROC AUC of each column of ``scores`` [n, m] for boolean ``labels`` [n] (ties count half)."""
    scores = scores.reshape(scores.shape[0], -1).double()
    y = labels.bool()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return torch.full((scores.shape[1],), float("nan"), dtype=torch.float64)
    order = scores.argsort(dim=0)
    ranks = torch.empty_like(scores)
    ar = torch.arange(1, scores.shape[0] + 1, dtype=torch.float64).unsqueeze(1).expand_as(scores)
    ranks.scatter_(0, order, ar)
    # average ranks over ties
    sorted_s = scores.gather(0, order)
    for j in range(scores.shape[1]):
        s = sorted_s[:, j]
        if (s[1:] == s[:-1]).any():
            uniq, inv = torch.unique_consecutive(s, return_inverse=True)
            mean_rank = torch.zeros(len(uniq), dtype=torch.float64).index_add_(0, inv, ar[:, 0])
            mean_rank /= torch.bincount(inv).double()
            ranks[order[:, j], j] = mean_rank[inv]
    r_pos = ranks[y].sum(0)
    return (r_pos - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def reflect_token_ids(tokenizer: Any) -> tuple[list[int], list[int]]:
    """First-token ids of the recheck openers and of the other continuations after a step line."""
    from .world_v3 import EXPLORE, RECHECK, UNCERTAIN

    def first_after_newline(text: str) -> int:
        ids = tokenizer("\n" + text, add_special_tokens=False)["input_ids"]
        nl = tokenizer("\n", add_special_tokens=False)["input_ids"]
        if ids[: len(nl)] != nl:
            raise ValueError("the organism tokenizer merges newlines with the next word; decision points need "
                             "a separate newline token")
        return ids[len(nl)]

    reflect = sorted({first_after_newline(t) for t in (RECHECK.format(col="ones"), EXPLORE.format(col="ones"),
                                                        *UNCERTAIN)})
    other = sorted({first_after_newline(t) for t in ("Tens: 1", "Hundreds: 1", "Thousands: 1", "So the",
                                                      "Yes, 1", "Wait, that")} - set(reflect))
    return reflect, other


def decision_data(model: Any, tokenizer: Any, docs: list[dict], batch_size: int = 64) -> dict[str, torch.Tensor]:
    """Per-token labels of ``docs`` and, at decision points, the residual and the model's P(reflect)."""
    reflect_ids, other_ids = reflect_token_ids(tokenizer)
    keys = ("doc", "pos", "hard", "region", "decision", "reflected", "p_reflect")
    tok_rows: dict[str, list[torch.Tensor]] = {k: [] for k in keys}
    resid: list[torch.Tensor] = []
    coverage: list[torch.Tensor] = []
    grabbed: list[torch.Tensor] = []
    handle = model.model.layers[LAYER].register_forward_hook(
        lambda mod, inp, out: grabbed.append(out[0] if isinstance(out, tuple) else out))
    try:
        for s in range(0, len(docs), batch_size):
            chunk = docs[s : s + batch_size]
            enc = tokenizer([d["text"] for d in chunk], return_tensors="pt", padding=True,
                            return_offsets_mapping=True)
            offsets = enc.pop("offset_mapping")
            with torch.no_grad():
                probs = model(**enc).logits.softmax(-1)
            h = grabbed.pop()
            for r, d in enumerate(chunk):
                n = int(enc["attention_mask"][r].sum())
                starts = offsets[r, :n, 0].tolist()
                labels = _char_labels(d)
                hard = torch.tensor([labels["hard"][c] if c < len(labels["hard"]) else -1 for c in starts])
                region = torch.tensor([labels["region"][c] if c < len(labels["region"]) else 0 for c in starts])
                dec_chars = {st["decision"]: st for st in d["steps"]}
                is_dec = torch.tensor([c in dec_chars and d["text"][c] == "\n" for c in starts])
                is_dec[0] = False
                reflected = torch.tensor([int(dec_chars[c]["reflected"]) if ok else -1
                                          for c, ok in zip(starts, is_dec.tolist(), strict=True)])
                p_ref = probs[r, :n, reflect_ids].sum(-1)
                p_ref = torch.where(is_dec, p_ref, torch.full_like(p_ref, float("nan")))
                for k, v in zip(keys, (torch.full((n,), s + r), torch.arange(n), hard, region, is_dec,
                                       reflected, p_ref), strict=True):
                    tok_rows[k].append(v)
                resid.append(h[r, :n][is_dec])
                coverage.append(probs[r, :n][is_dec][:, reflect_ids + other_ids].sum(-1))
    finally:
        handle.remove()
    out = {k: torch.cat(v) for k, v in tok_rows.items()}
    out["decision_resid"] = torch.cat(resid)
    out["decision_coverage"] = torch.cat(coverage)
    return out


def _char_labels(doc: dict) -> dict[str, list[int]]:
    n = len(doc["text"])
    hard, region = [-1] * n, [0] * n
    for st in doc["steps"]:
        spans = [(st["attempt"], 1), ((st["decision"], st["decision"] + 1), 3)]
        if st["recheck"]:
            spans.append((st["recheck"], 2))
        for (lo, hi), reg in spans:
            for j in range(lo, min(hi, n)):
                hard[j], region[j] = int(st["hard"]), reg
    return {"hard": hard, "region": region}


def ground_truth_features(acts: torch.Tensor, hard: torch.Tensor, p_reflect: torch.Tensor) -> dict[str, Any]:
    """The ground-truth rule applied to SAE activations ``acts`` [n_decisions, d_sae]."""
    auc_hard = auc(acts, hard.bool())
    high = p_reflect >= p_reflect.median()
    auc_ref = auc(acts, high)
    active = (acts > 0).float().mean(0)
    is_true = ((auc_hard >= AUC_THRESHOLD) | (auc_ref >= AUC_THRESHOLD)) & (active >= MIN_ACTIVE)
    feats = torch.nonzero(is_true).flatten().tolist()
    feats.sort(key=lambda i: -max(float(auc_hard[i]), float(auc_ref[i])))
    return {
        "features": feats,
        "auc_hard": {int(i): round(float(auc_hard[i]), 4) for i in feats},
        "auc_p_reflect": {int(i): round(float(auc_ref[i]), 4) for i in feats},
        "active_fraction": {int(i): round(float(active[i]), 4) for i in feats},
        "best_auc_hard": round(float(auc_hard.nan_to_num(0).max()), 4),
        # every latent's AUC (dead latents: 0.5), for threshold-free views of a selector's choices
        "auc_hard_all": [round(float(v), 4) for v in auc_hard.nan_to_num(0.5)],
        "auc_p_reflect_all": [round(float(v), 4) for v in auc_ref.nan_to_num(0.5)],
        "best_auc_p_reflect": round(float(auc_ref.nan_to_num(0).max()), 4),
    }


def build_ground_truth(root: str | os.PathLike[str] | None = None,
                       log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Compute and save ``root/ground_truth`` (tokens, oracle direction, truth.json); return the summary."""
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tl_reasoning.loading.saes import load_sae_dir

    from .data import load_split

    root = Path(root or artifact_dir())
    mdir = model_dir("organism", root)
    model = AutoModelForCausalLM.from_pretrained(str(mdir)).eval()
    tok = AutoTokenizer.from_pretrained(str(mdir))
    tok.padding_side = "right"
    docs = load_split("reasoning", "heldout", root)
    data = decision_data(model, tok, docs)
    dec = data["decision"]
    hard = data["hard"][dec] == 1
    p_ref = data["p_reflect"][dec]
    doc_of = data["doc"][dec]
    fit = doc_of < len(docs) // 2
    x = data["decision_resid"]
    direction = x[fit & hard].mean(0) - x[fit & ~hard].mean(0)
    direction = direction / direction.norm()
    proj = x[~fit] @ direction
    summary: dict[str, Any] = {
        "rule": {"auc_threshold": AUC_THRESHOLD, "min_active": MIN_ACTIVE, "site": HOOK_NAME,
                 "positions": "decision points: the newline token after a step's first attempt",
                 "p_reflect": "next-token mass on the first tokens of the recheck openers",
                 "oracle": "unit(mean resid | hard) - (mean resid | easy), fit on the first half of docs"},
        "n_docs": len(docs),
        "n_decisions": int(dec.sum()),
        "hard_fraction": round(float(hard.float().mean()), 4),
        "p_reflect_mean": {"hard": round(float(p_ref[hard].mean()), 4), "easy": round(float(p_ref[~hard].mean()), 4)},
        "p_reflect_auc_for_hard": round(float(auc(p_ref.unsqueeze(1), hard)[0]), 4),
        "next_token_coverage_mean": round(float(data["decision_coverage"].mean()), 4),
        "oracle": {
            "heldout_auc_hard": round(float(auc(proj.unsqueeze(1), hard[~fit])[0]), 4),
            "heldout_auc_p_reflect": round(float(auc(proj.unsqueeze(1), (p_ref >= p_ref.median())[~fit])[0]), 4),
            "mean_resid_norm": round(float(x.norm(dim=1).mean()), 4),
        },
        "saes": {},
    }
    for name, where in SAE_DIRS.items():
        path = where(root)
        if not (path / "cfg.json").is_file():
            continue
        sae = load_sae_dir(path, "cpu", torch.float32)
        with torch.no_grad():
            acts = sae.encode(x)
        summary["saes"][name] = ground_truth_features(acts, hard, p_ref)
        log(f"ground truth {name}: {len(summary['saes'][name]['features'])} features "
            f"(best AUC hard {summary['saes'][name]['best_auc_hard']})")
    gdir = ground_truth_dir(root)
    gdir.mkdir(parents=True, exist_ok=True)
    tokens = {k: data[k].to(torch.int16).contiguous() for k in ("doc", "pos")}
    tokens.update({k: data[k].to(torch.int8).contiguous() for k in ("hard", "region", "decision", "reflected")})
    tokens["decision_p_reflect"] = p_ref.float().contiguous()  # one value per decision token, in token order
    save_file(tokens, str(gdir / "tokens.safetensors"))
    save_file({"direction": direction.contiguous()}, str(gdir / "oracle.safetensors"))
    (gdir / "truth.json").write_text(json.dumps(summary, indent=2) + "\n")
    log(f"ground truth: {json.dumps({k: v for k, v in summary.items() if k != 'saes'})}")
    return summary


def load_ground_truth(root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``truth.json`` plus the oracle direction (``"direction"``, a unit tensor) of an artifacts root."""
    from safetensors.torch import load_file

    gdir = ground_truth_dir(root)
    if not (gdir / "truth.json").is_file():
        raise FileNotFoundError(f"no ground truth at {gdir}; build it with python -m tl_reasoning.organism.ground_truth")
    truth = json.loads((gdir / "truth.json").read_text())
    truth["direction"] = load_file(str(gdir / "oracle.safetensors"))["direction"]
    return truth


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=None, help="artifacts directory (default: the shipped artifacts)")
    args = ap.parse_args(argv)
    import sys

    build_ground_truth(args.root, log=lambda s: sys.stderr.write(s + "\n"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
