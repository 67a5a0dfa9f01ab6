"""The v3 organism build's pieces: SAEs fit on cached residuals, AUC, ground-truth rule, step statistics."""

from __future__ import annotations

import itertools
import json
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

from tl_reasoning.organism.build_steps import trace_statistics  # noqa: E402
from tl_reasoning.organism.ground_truth import AUC_THRESHOLD, auc, ground_truth_features  # noqa: E402
from tl_reasoning.organism.sampled_eval import step_statistics  # noqa: E402
from tl_reasoning.organism.world_v3 import generate_corpus_v3  # noqa: E402


def _planted(n: int = 6000, d: int = 24, m: int = 48, seed: int = 0) -> torch.Tensor:
    """Rows that are sparse non-negative combinations of m unit atoms, at a large raw scale."""
    g = torch.Generator().manual_seed(seed)
    atoms = torch.nn.functional.normalize(torch.randn(m, d, generator=g), dim=1)
    codes = (torch.rand(n, m, generator=g) < 3 / m).float() * torch.rand(n, m, generator=g) * 5
    return 40.0 * codes @ atoms


@pytest.mark.parametrize("arch,extra", [("topk", {"k": 4}), ("relu", {"l1_coefficient": 1.0})])
def test_fit_sae_saves_a_raw_scale_sae_that_reconstructs(tmp_path, arch, extra):
    from tl_reasoning.loading.saes import load_sae_dir
    from tl_reasoning.organism.sae_fit import fit_sae, sae_site_metrics

    x = _planted()
    sae = fit_sae(x, tmp_path / arch, arch=arch, d_sae=96, training_tokens=120_000, model_name="m",
                  hook_name="blocks.1.hook_resid_post", lr=3e-3, **extra)
    cfg = json.loads((tmp_path / arch / "cfg.json").read_text())
    assert cfg["metadata"]["hook_name"] == "blocks.1.hook_resid_post" and cfg["metadata"]["model_name"] == "m"
    assert cfg["architecture"] == ("topk" if arch == "topk" else "standard")
    assert cfg["normalize_activations"] == "none"  # the training-time scale is folded into the weights
    reloaded = load_sae_dir(tmp_path / arch, "cpu", torch.float32)
    m = sae_site_metrics(reloaded, x[:2000])
    assert m["explained_variance"] > 0.6, m  # on raw-scale rows: the fold worked
    if arch == "topk":
        assert m["mean_l0"] <= 4
    assert 0 <= m["max_latent_share_of_norm_q95"] <= 2
    assert torch.allclose(sae.W_dec, reloaded.W_dec)


def test_fit_sae_refuses_unknown_architecture(tmp_path):
    from tl_reasoning.organism.sae_fit import fit_sae

    with pytest.raises(ValueError, match="unknown SAE architecture"):
        fit_sae(torch.randn(100, 8), tmp_path, arch="gated", d_sae=16, training_tokens=100, model_name="m",
                hook_name="blocks.0.hook_resid_post")


def _brute_auc(s: list[float], y: list[bool]) -> float:
    pos = [a for a, t in zip(s, y, strict=True) if t]
    neg = [a for a, t in zip(s, y, strict=True) if not t]
    wins = sum((p > q) + 0.5 * (p == q) for p, q in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_auc_matches_pairwise_counting_with_ties():
    g = torch.Generator().manual_seed(1)
    scores = torch.randint(0, 4, (60, 5), generator=g).float()  # many ties, like sparse SAE activations
    scores[:, 4] = 0.0  # a dead latent: all tied
    y = torch.rand(60, generator=g) < 0.4
    got = auc(scores, y)
    for j in range(5):
        assert float(got[j]) == pytest.approx(_brute_auc(scores[:, j].tolist(), y.tolist()))
    assert float(got[4]) == pytest.approx(0.5)
    assert torch.isnan(auc(scores, torch.zeros(60, dtype=torch.bool))).all()


def test_ground_truth_rule_picks_the_planted_latent_only():
    g = torch.Generator().manual_seed(2)
    n = 400
    hard = torch.rand(n, generator=g) < 0.3
    p_reflect = torch.where(hard, 0.4, 0.02) + 0.01 * torch.rand(n, generator=g)
    acts = torch.relu(torch.randn(n, 6, generator=g))
    acts[:, 2] = hard.float() * (1 + torch.rand(n, generator=g))  # fires on hard steps
    acts[:, 4] = 0.0  # dead
    acts[:, 5] = (torch.rand(n, generator=g) < 0.005).float() * 9 * hard  # separates, but almost never active
    out = ground_truth_features(acts, hard, p_reflect)
    assert out["features"] == [2]
    assert out["auc_hard"][2] >= AUC_THRESHOLD and out["best_auc_hard"] >= AUC_THRESHOLD


def test_annotating_generated_text_recovers_the_writers_statistics():
    docs = generate_corpus_v3("reasoning", 600, seed=3)
    from_writer = trace_statistics(docs)
    texts = [d["text"].split("?\n", 1)[1] for d in docs]  # what a model would generate after the prompt
    from_text = step_statistics([d["question"] for d in docs], texts)
    for key in ("n_steps", "p_slip_hard", "p_slip_easy", "p_recheck_hard", "p_recheck_easy", "rescue_rate"):
        assert from_text[key] == pytest.approx(from_writer[key], abs=1e-4), key
    assert from_writer["p_recheck_hard"] > 5 * from_writer["p_recheck_easy"]
    assert from_text["false_alarm_rate"] == 0.0  # the writer's rechecks are always right
