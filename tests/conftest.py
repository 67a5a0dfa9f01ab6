"""Shared fixtures: tiny random Llama models on every backend, a random SAE, plugin isolation."""

from __future__ import annotations

import os
import warnings

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

D_MODEL = 64
N_LAYERS = 2
TEXTS = ["the cat sat on the mat", "wait, let me check 12 + 5 = 17", "but therefore hmm maybe", "alternatively"]


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tiny models run fastest on one thread (and do not stall when other jobs share the CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _fresh_plugins():
    """Every test starts and ends with freshly discovered plugins (no leaked registrations)."""
    from tl_reasoning.plugins import reset_plugins

    reset_plugins()
    yield
    reset_plugins()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A random 2-layer Llama + BPE tokenizer saved with save_pretrained.

    The directory name contains 'llama' on purpose: TransformerLens mis-handles such paths and
    tl-reasoning must work around it.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(TEXTS * 20, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=D_MODEL, intermediate_size=128, num_hidden_layers=N_LAYERS,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    path = tmp_path_factory.mktemp("models") / "tiny_llama"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save_pretrained(path)
        tok.save_pretrained(path)
    return path


def _load(path, backend):
    from tl_reasoning import load_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_model(str(path), backend=backend)


@pytest.fixture(scope="session")
def models(tiny_model_dir):
    """The same weights on every backend: {'hooked': ..., 'bridge': ..., 'nnsight': ...}."""
    return {name: _load(tiny_model_dir, name) for name in ("hooked", "bridge", "nnsight")}


@pytest.fixture(params=["hooked", "bridge", "nnsight"])
def backend_name(request):
    return request.param


@pytest.fixture
def backend(models, backend_name):
    from tl_reasoning import backend_for

    b = backend_for(models[backend_name])
    yield b
    for handle in b.edits:  # a failing test must not leak edits into the next one
        handle.remove()


@pytest.fixture(scope="session")
def tiny_sae_dir(tmp_path_factory):
    from sae_lens import SAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    torch.manual_seed(1)
    meta = SAEMetadata(hook_name="blocks.1.hook_resid_post", model_name="tiny", hook_head_index=None)
    sae = SAE.from_dict(StandardSAEConfig(d_in=D_MODEL, d_sae=256, metadata=meta).to_dict())
    path = tmp_path_factory.mktemp("saes") / "tiny_sae"
    sae.save_model(str(path))
    return path
