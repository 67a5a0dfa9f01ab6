"""Against the real NDIF: run only with ``NDIF_API_KEY`` set (marker ``remote``), skipped otherwise."""

from __future__ import annotations

import os

import pytest

pytestmark = [
    pytest.mark.remote,
    pytest.mark.skipif(not os.environ.get("NDIF_API_KEY"), reason="needs NDIF_API_KEY and network"),
]

MODEL = os.environ.get("TL_REASONING_NDIF_MODEL", "openai-community/gpt2")


def test_ndif_residuals_match_a_plain_forward():
    import torch
    from nnsight import LanguageModel

    from tl_reasoning.remote import resolve_remote

    model = LanguageModel(MODEL)
    target = resolve_remote(True, timeout=600)
    with target.running(), model.trace("The answer is", **target.trace_kwargs(model)):
        logits = model.lm_head.output.save()
    assert torch.isfinite(logits).all()


def test_ndif_bad_key_is_reported_without_the_key():
    from nnsight import LanguageModel

    from tl_reasoning.remote import RemoteAuthError, RemoteTarget

    model = LanguageModel(MODEL)
    target = RemoteTarget("https://api.ndif.us", "not-a-real-key-123456", None, 120)
    with pytest.raises(RemoteAuthError) as info:
        with target.running(), model.trace("x", **target.trace_kwargs(model)):
            model.lm_head.output.save()
    assert "not-a-real-key-123456" not in str(info.value)
