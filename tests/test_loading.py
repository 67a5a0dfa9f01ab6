"""load_model / load_sae on local artifacts; clear errors; fast offline failure."""

from __future__ import annotations

import time
import warnings

import pytest
import torch

from tests.conftest import D_MODEL
from tl_reasoning import backend_for, check_sae_compatible, load_model, load_sae
from tl_reasoning.loading import hub


@pytest.mark.parametrize("backend,cls", [("hooked", "HookedTransformer"), ("bridge", "TransformerBridge"),
                                         ("nnsight", "TransformersModel"), (None, "TransformerBridge")])
def test_local_hf_dir_on_each_backend(tiny_model_dir, backend, cls):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = load_model(tiny_model_dir, backend=backend)
    assert type(model).__name__ == cls
    b = backend_for(model)
    assert b.n_layers == 2 and b.d_model == D_MODEL


def test_logits_agree_across_backends(models, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = backend_for(models["hooked"]).tokenize("let me check").input_ids
    ref = hf(ids).logits
    for name, model in models.items():
        torch.testing.assert_close(backend_for(model).forward(ids), ref, atol=1e-4, rtol=1e-4, msg=name)


def test_load_sae_local_dir_and_compatibility(tiny_sae_dir, models):
    sae = load_sae(tiny_sae_dir)
    assert sae.cfg.d_sae == 256
    for model in models.values():
        assert check_sae_compatible(model, sae) == "blocks.1.hook_resid_post"


def test_sae_width_mismatch_is_named(tiny_sae_dir, models, tmp_path):
    from sae_lens import SAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    meta = SAEMetadata(hook_name="blocks.1.hook_resid_post", model_name="x", hook_head_index=None)
    wide = SAE.from_dict(StandardSAEConfig(d_in=128, d_sae=256, metadata=meta).to_dict())
    with pytest.raises(ValueError, match="d_in=128 does not match the model's d_model=64"):
        check_sae_compatible(models["hooked"], wide)


def test_sae_site_missing_is_named(tiny_sae_dir, models):
    sae = load_sae(tiny_sae_dir)
    with pytest.raises(ValueError, match="blocks.9.hook_resid_post does not exist: the model has 2 layers"):
        check_sae_compatible(models["nnsight"], sae, site="blocks.9.hook_resid_post")


def test_unknown_specs_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a registered name"):
        load_model("./no/such/dir")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_model(tmp_path)
    with pytest.raises(ValueError, match="unknown backend 'jax'"):
        load_model("organism", backend="jax")
    with pytest.raises(FileNotFoundError, match="not a sae-lens SAE directory"):
        load_sae(tmp_path)
    with pytest.raises(ValueError, match="has no SAE id 'nope'"):
        load_sae("llama_scope_r1_distill/nope")


@pytest.mark.parametrize("call", [
    lambda: load_model("deepseek-ai/DeepSeek-R1-Distill-Llama-8B"),
    lambda: load_sae("andreuka18/deepseek-r1-distill-llama-8b-lmsys-openthoughts/blocks.19.hook_resid_post"),
    lambda: load_sae("llama_scope_r1_distill", sae_id="l15r_800m_openr1_math"),
])
def test_missing_remote_artifact_fails_fast(call, monkeypatch):
    hub.hub_reachable.cache_clear()
    monkeypatch.setattr(hub, "hub_reachable", lambda *a, **k: False)
    start = time.perf_counter()
    with pytest.raises(hub.ArtifactUnavailableError, match="not in the local Hugging Face cache"):
        call()
    assert time.perf_counter() - start < 10


def test_offline_mode_restored_after_failure(monkeypatch):
    import huggingface_hub.constants as C

    monkeypatch.setattr(hub, "hub_reachable", lambda *a, **k: False)
    before = C.HF_HUB_OFFLINE
    with pytest.raises(hub.ArtifactUnavailableError):
        load_model("someone/some-model")
    assert C.HF_HUB_OFFLINE == before
