"""TransformerBridge KV-cached generation is correct on every transformers release we support.

transformers 5.24 hands the attention modules the cache as ``cache=`` instead of
``past_key_values=``; TransformerLens 3.9's Bridge then never writes the cache (see
``tl_reasoning/backends/bridge_compat.py`` and docs/upstream/transformerlens-bridge-kv-cache.md).
"""

from __future__ import annotations

import pytest
import torch
from packaging.version import Version

from tl_reasoning import backend_for, load_model
from tl_reasoning.backends.bridge_compat import repair_bridge_kv_cache

PROMPTS = ["Q: 12+34=", "Q: 345+678="]


def _versions() -> tuple[Version, Version]:
    from importlib.metadata import version

    return Version(version("transformers")), Version(version("transformer-lens"))


def _raw_bridge():
    """The organism as a TransformerBridge straight from TransformerLens, without our repair."""
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import AutoTokenizer

    from tl_reasoning.organism import model_dir

    path = str(model_dir("organism"))
    return TransformerBridge.boot_transformers(path, device="cpu", tokenizer=AutoTokenizer.from_pretrained(path))


def _prefill_cache_length(bridge, ids: torch.Tensor) -> int:
    with torch.no_grad():
        _, cache = bridge(ids, return_type="logits_and_cache", use_cache=True)
    return int(cache.get_seq_length())


def _greedy(bridge, ids: torch.Tensor, use_cache: bool) -> list[int]:
    with torch.no_grad():
        out = bridge.generate(ids, max_new_tokens=24, do_sample=False, use_past_kv_cache=use_cache,
                              stop_at_eos=False, verbose=False, return_type="tokens")
    return out[0, ids.shape[1]:].tolist()


def test_repaired_bridge_writes_its_kv_cache():
    bridge = load_model("organism", backend="bridge")
    ids = backend_for(bridge).tokenize(PROMPTS[0]).input_ids
    assert _prefill_cache_length(bridge, ids) == ids.shape[1]
    assert repair_bridge_kv_cache(bridge) == 0, "repair must be idempotent"


def test_wrapping_a_users_bridge_repairs_it():
    bridge = _raw_bridge()
    backend = backend_for(bridge)
    ids = backend.tokenize(PROMPTS[1]).input_ids
    assert _prefill_cache_length(bridge, ids) == ids.shape[1]
    # the user's own generate is correct too, not only ours
    assert _greedy(bridge, ids, use_cache=True) == _greedy(bridge, ids, use_cache=False)


def test_cached_equals_uncached_equals_hooked_single_and_left_padded():
    bridge, hooked = load_model("organism", backend="bridge"), load_model("organism", backend="hooked")
    b, h = backend_for(bridge), backend_for(hooked)
    batch = b.tokenize(PROMPTS, padding_side="left")
    ref = h.generate(batch.input_ids, batch.attention_mask, max_new_tokens=24, stop_at_eos=False)
    for use_cache in (True, False):
        got = b.generate(batch.input_ids, batch.attention_mask, max_new_tokens=24, stop_at_eos=False,
                         use_cache=use_cache)
        assert torch.equal(got, ref), f"use_cache={use_cache}"
        single = b.generate(b.tokenize(PROMPTS[0]).input_ids, max_new_tokens=24, stop_at_eos=False,
                            use_cache=use_cache)
        assert torch.equal(single[0], ref[0, -single.shape[1]:]), f"single row, use_cache={use_cache}"


@pytest.mark.skipif(_versions()[0] < Version("5.24") or _versions()[1] >= Version("4"),
                    reason="the upstream bug needs transformers >= 5.24 with TransformerLens 3")
def test_upstream_bug_is_what_the_repair_fixes():
    """Without the repair the cache stays empty and cached greedy tokens differ from uncached ones.

    When this fails, upstream has fixed the bug: keep the repair for older releases, update the docs.
    """
    bridge = _raw_bridge()
    ids = torch.tensor([bridge.tokenizer(PROMPTS[0])["input_ids"]])
    assert _prefill_cache_length(bridge, ids) == 0
    assert _greedy(bridge, ids, use_cache=True) != _greedy(bridge, ids, use_cache=False)
