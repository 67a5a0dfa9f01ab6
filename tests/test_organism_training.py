"""The committed organism artifacts load and fit together; the retraining pipeline runs."""

from __future__ import annotations

import json
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

from tl_reasoning.organism import HOOK_NAME, LAYER, MODEL_DIRS, SAE_DIRS, artifact_dir  # noqa: E402
from tl_reasoning.organism.data import CORPORA, load_split  # noqa: E402
from tl_reasoning.organism.world import THINK_CLOSE, THINK_OPEN, check_answer  # noqa: E402


@pytest.mark.parametrize("name", sorted(MODEL_DIRS))
def test_committed_model_and_sae_load(name):
    from sae_lens import SAE
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert "llama" not in str(MODEL_DIRS[name]).lower()
    model = AutoModelForCausalLM.from_pretrained(str(MODEL_DIRS[name]))
    tok = AutoTokenizer.from_pretrained(str(MODEL_DIRS[name]))
    assert model.config.architectures == ["LlamaForCausalLM"]
    assert not model.config.tie_word_embeddings
    assert model.config.vocab_size == len(tok)
    sae = SAE.load_from_disk(str(SAE_DIRS[name]), device="cpu")
    assert sae.cfg.d_in == model.config.hidden_size
    assert sae.cfg.d_sae >= 6 * model.config.hidden_size
    assert sae.cfg.metadata.hook_name == HOOK_NAME == f"blocks.{LAYER}.hook_resid_post"
    assert sae.cfg.metadata.model_name == name
    assert LAYER < model.config.num_hidden_layers


def test_tokenizer_one_bos_single_digits_and_think_tokens():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(MODEL_DIRS["organism"]))
    ids = tok("Question: What is 347 + 285?\n<think>\nx\n</think>")["input_ids"]
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1
    pieces = tok.convert_ids_to_tokens(ids)
    assert THINK_OPEN in pieces and THINK_CLOSE in pieces
    assert {"3", "4", "7", "2", "8", "5"} <= set(pieces)
    assert not any(p.strip("Ġ").isdigit() and len(p.strip("Ġ")) > 1 for p in pieces)
    text = "Let me check: 4 + 8 = 12."
    assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == text


def test_transformer_lens_twin_matches_and_has_one_bos():
    from transformers import AutoModelForCausalLM

    from tl_reasoning.loading.hooked import hooked_from_hf_dir

    hooked = hooked_from_hf_dir(MODEL_DIRS["organism"])
    toks = hooked.to_tokens("Question: What is 12 + 34?\n")
    assert (toks[0] == hooked.tokenizer.bos_token_id).sum() == 1 and toks[
        0, 0
    ] == hooked.tokenizer.bos_token_id
    hf = AutoModelForCausalLM.from_pretrained(str(MODEL_DIRS["organism"])).eval()
    with torch.no_grad():
        diff = (hooked(toks) - hf(toks).logits).abs().max()
    assert diff < 1e-3


def test_committed_data_splits():
    for corpus, splits in CORPORA.items():
        for split in splits:
            docs = load_split(corpus, split)
            assert docs and all("text" in d for d in docs), (corpus, split)
    bench = load_split("benchmark", "test")
    assert len(bench) >= 200
    for b in bench:
        assert {"question", "prompt", "answer", "kind"} <= set(b) and check_answer(b["question"], b["answer"])
    seen = {d["question"] for c in ("reasoning", "plain") for d in load_split(c, "train") if "question" in d}
    assert not seen & {b["question"] for b in bench}
    assert all(THINK_OPEN in d["text"] for d in load_split("reasoning", "train"))
    assert not any(THINK_OPEN in d["text"] for d in load_split("plain", "train"))


#: Minimums the shipped v3 build misses, as measured and explained in docs/organism-v3.md. A rebuild that
#: meets one of them fails this test on purpose: update the docs and this set together.
KNOWN_SHORTFALLS = {
    "sampled_accuracy_in_0.75_0.90",  # 55.8 %: easy steps slip 11 % (the world: 2 %)
    "rechecks_rescue_slips_ge_0.3",  # 9 %: only 27 % of hard steps are rechecked under sampling
    "oracle_heldout_auc_hard_ge_0.8",  # 0.796
    "sae_organism_max_share_q95_lt_0.5",
    "sae_organism-relu_max_share_q95_lt_0.5",
    "sae_organism-base_max_share_q95_lt_0.5",
}


def test_committed_report_meets_quality_minimums():
    from tl_reasoning.organism.report_md import quality

    report = json.loads((artifact_dir() / "report.json").read_text())
    assert report["quality"] == quality(report)  # recorded = recomputed from the recorded numbers
    failed = {k for k, ok in report["quality"].items() if not ok}
    assert failed == KNOWN_SHORTFALLS, failed ^ KNOWN_SHORTFALLS
    assert report["eval"]["organism-base"]["think_rate"] <= 0.01
    smp = report["eval"]["organism_sampled"]
    assert smp["p_recheck_hard"] > 10 * smp["p_recheck_easy"]  # reflection follows difficulty
    assert report["ground_truth"]["p_reflect_auc_for_hard"] >= 0.9  # the model computes it
    total = sum(f.stat().st_size for f in artifact_dir().rglob("*") if f.is_file())
    assert total <= 25 * 2**20


def test_committed_organism_reasons_and_base_does_not():
    from tl_reasoning.organism.evaluate import evaluate_model

    items = load_split("benchmark", "test")[:8]
    metrics, gens = evaluate_model(MODEL_DIRS["organism"], items, reasoning=True)
    assert metrics["well_formed_rate"] >= 0.75 and metrics["accuracy"] >= 0.5, gens
    base, base_gens = evaluate_model(MODEL_DIRS["organism-base"], items, reasoning=False)
    assert base["think_rate"] == 0.0, base_gens


def test_quick_retrain_smoke(tmp_path):
    """The --quick budget exercises the full pipeline (data → tokenizer → models → SAEs → report)."""
    from tl_reasoning.organism.train import main

    assert main(["--out", str(tmp_path), "--quick", "--seed", "1"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    expected = {"seed", "world", "budget", "layer", "data", "tokenizer", "model", "train_base", "train_reasoning",
                "sae", "stages", "eval", "ground_truth", "timings_s", "artifact_bytes", "quality"}
    assert expected <= set(report)
    assert set(report["sae"]) == {"organism", "organism-relu", "organism-base"}
    assert set(report["eval"]) == {"organism", "organism-base", "organism_sampled"}
    assert report["sae"]["organism-relu"]["architecture"] == "relu"
    assert set(report["sae"]["organism-relu"]["l1_sweep"]) == {str(x) for x in (2.0, 5.0)}
    for key in ("mean_l0", "explained_variance", "dead_fraction", "max_latent_share_of_norm_q95"):
        assert key in report["sae"]["organism"]
    for key in ("accuracy", "p_slip_hard", "p_recheck_hard", "rescue_rate"):
        assert key in report["eval"]["organism_sampled"]
    assert set(report["stages"]["stages"]) == {"S", "SD", "SDF", "SM", "SMF"}
    assert (tmp_path / "report.md").read_text().startswith("# Model organism training report")
    for sub in ("organism", "organism_base", "sae_organism", "sae_organism_relu", "sae_organism_base", "sae_stages",
                "ground_truth", "tokenizer", "data"):
        assert (tmp_path / sub).is_dir(), sub
    assert (tmp_path / "ground_truth" / "truth.json").is_file()
