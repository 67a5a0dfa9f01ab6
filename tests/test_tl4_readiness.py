"""TransformerLens 4 removed HookedTransformer: nothing for Hugging Face models may require it.

TL 4 cannot be installed beside sae-lens 6.54 (it caps transformer-lens<4), so these tests make the
installed TransformerLens report version 4 and check what a TL-4 user would get.
"""

from __future__ import annotations

import pytest

import tl_reasoning.loading.models as models
from tl_reasoning import load_model


@pytest.fixture
def tl4(monkeypatch):
    monkeypatch.setattr(models, "transformer_lens_major", lambda: 4)


def test_installed_major_matches_what_transformer_lens_provides():
    import transformer_lens

    assert (models.transformer_lens_major() < 4) == hasattr(transformer_lens, "HookedTransformer")


def test_hooked_backend_on_tl4_is_a_clear_error_naming_the_bridge(tl4, tiny_model_dir):
    with pytest.raises(ValueError, match=r"TransformerLens 4 removed.*backend='bridge'.*enable_compatibility_mode"):
        load_model(tiny_model_dir, backend="hooked")
    with pytest.raises(ValueError, match="TransformerLens 4 removed"):
        load_model("organism", backend="hooked")


def test_organism_default_backend_follows_installed_transformer_lens(tl4):
    assert models.default_local_backend() == "bridge"
    assert type(load_model("organism")).__name__ == "TransformerBridge"


def test_organism_default_backend_on_tl3_is_hooked():
    if models.transformer_lens_major() >= 4:
        pytest.skip("TransformerLens 4 installed")
    assert type(load_model("organism")).__name__ == "HookedTransformer"


def test_hf_directories_and_hub_ids_default_to_the_bridge(tl4, tiny_model_dir):
    assert type(load_model(tiny_model_dir)).__name__ == "TransformerBridge"


def test_cli_reports_the_tl4_error_on_one_line(tl4, capsys):
    from tl_reasoning.cli import main

    assert main(["inspect", "--model", "organism", "--backend", "hooked"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "TransformerLens 4 removed" in err
