"""Stage-wise SAE diffing on the organism: the ``--quick`` pipeline, parent initialisation, names."""

from __future__ import annotations

import json
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

from tl_reasoning.organism import HOOK_NAME, LAYER, model_dir  # noqa: E402
from tl_reasoning.organism.stages import QUICK, STAGE_NAMES, STAGES, main, stage_dir  # noqa: E402


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("stages")
    main(["--out", str(out), "--quick"])
    return out


def _decoder(path):
    from sae_lens import SAE

    return SAE.load_from_disk(str(path), device="cpu").W_dec.detach()


def _mean_cos(a, b):
    return float(torch.nn.functional.cosine_similarity(a, b, dim=1).mean())


def test_quick_run_writes_five_loadable_saes_and_a_record(quick_run):
    from tl_reasoning.loading.saes import load_sae_dir

    assert STAGE_NAMES == ("S", "SD", "SDF", "SM", "SMF")
    for name in STAGE_NAMES:
        assert (quick_run / name / "cfg.json").is_file()
        sae = load_sae_dir(quick_run / name, "cpu", torch.float32)
        assert sae.cfg.d_sae == QUICK.d_sae
        assert sae.cfg.metadata.hook_name == HOOK_NAME
    record = json.loads((quick_run / "stages.json").read_text())
    assert record["settings"]["scratch_tokens"] == QUICK.scratch_tokens
    assert record["settings"]["finetune_tokens"] == round(0.3 * QUICK.scratch_tokens)
    for stage in STAGES:
        row = record["stages"][stage.name]
        assert row["parent"] == stage.parent and row["model"] == stage.model and row["data"] == stage.data
        expected = QUICK.scratch_tokens if stage.parent is None else QUICK.finetune_tokens
        assert row["training_tokens"] == expected
        assert row["seconds"] >= 0 and 0 <= row["dead_fraction"] <= 1
        assert row["mean_l0"] == pytest.approx(QUICK.k, abs=1.0)  # TopK
        assert -1 < row["explained_variance"] <= 1


def test_fine_tuned_stage_starts_from_its_parent(quick_run, tmp_path):
    from tl_reasoning.organism.sae_fit import collect_activations, fit_sae
    from tl_reasoning.organism.world_v3 import generate_corpus_v3

    # A from-scratch SAE with the SD stage's model, data and budget, for comparison.
    texts = [d["text"] for d in generate_corpus_v3("reasoning", QUICK.n_reasoning_docs, QUICK.seed)]
    acts = collect_activations(model_dir("organism-base"), texts, LAYER, QUICK.act_tokens)
    scratch = fit_sae(acts, tmp_path / "scratch", arch="topk", d_sae=QUICK.d_sae, k=QUICK.k,
                      training_tokens=QUICK.finetune_tokens, model_name="organism-base", hook_name=HOOK_NAME,
                      seed=1).W_dec.detach()
    for stage in STAGES:
        if stage.parent is None:
            continue
        child, parent = _decoder(quick_run / stage.name), _decoder(quick_run / stage.parent)
        assert _mean_cos(child, parent) > 0.8, stage.name
        assert _mean_cos(child, parent) > _mean_cos(child, scratch) + 0.5, stage.name


def test_stage_names_registered_only_when_shipped():
    from tl_reasoning.plugins import get_registry

    names = set(get_registry("sae").names())
    assert {"organism", "organism-base"} <= names
    for name in STAGE_NAMES:
        shipped = (stage_dir(name) / "cfg.json").is_file()
        assert (f"organism-stage-{name}" in names) == shipped
