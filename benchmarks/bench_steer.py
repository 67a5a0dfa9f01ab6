"""Steering overhead during generation (TransformerLens HookedTransformer, KV cache, greedy).

Prints tokens/s of unsteered generation and of each steering mode, and their ratios (goal: steered
≥ 0.9 × unsteered for ``add``), plus the cost of ``clamp`` relative to ``add`` and, for reference,
of the official code's full-SAE clamp (encode all features, set, decode, add the error).

Runs on the model organism with its SAE when its artifacts exist, else on a random Llama of a
similar size with a random SAE. One run, best of ``--repeats`` timings per configuration.

    python benchmarks/bench_steer.py [--new-tokens 64] [--batch 4] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch

import tl_reasoning as tr
from tl_reasoning.backends.base import EditFn


def _organism() -> tuple[Any, Any, str] | None:
    from tl_reasoning.organism import model_dir, sae_dir

    if not (model_dir("organism") / "config.json").is_file() or not sae_dir("organism").is_dir():
        return None
    return tr.load_model("organism", backend="hooked"), tr.load_sae("organism"), "organism"


def _random_model(tmp: Path) -> tuple[Any, Any, str]:
    """A random 4-layer Llama (d_model 256) with a byte-level BPE and a random 4096-feature SAE."""
    from sae_lens import SAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    texts = ["wait, let me check the sum again", "the answer is 42 therefore", "hmm maybe another way"] * 20
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "<s>", "</s>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                         num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=512,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0)
    path = tmp / "bench_model"
    LlamaForCausalLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    meta = SAEMetadata(hook_name="blocks.2.hook_resid_post", model_name="bench", hook_head_index=None)
    sae = SAE.from_dict(StandardSAEConfig(d_in=256, d_sae=4096, metadata=meta).to_dict())
    return tr.load_model(str(path), backend="hooked"), sae, "random Llama (4 layers, d_model 256, SAE 4096)"


def _full_sae_clamp(sae: Any, features: list[int], target: float) -> EditFn:
    """The official code's hook: full encode, set latents, two full decodes (reference cost only)."""

    def edit(act: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        f = sae.encode(act)
        f_new = f.clone()
        f_new[..., features] = target
        return sae.decode(f_new) + (act - sae.decode(f))

    return edit


def _time(model: Any, prompts: list[str], new_tokens: int, steering: Any, repeats: int) -> float:
    backend = tr.backend_for(model)
    batch = backend.tokenize(prompts, padding_side="left")
    handle = tr.add_steering(model, steerings=steering, think_end=backend.eos_token_id) if steering else None
    try:
        backend.generate(batch.input_ids, batch.attention_mask, max_new_tokens=4, stop_at_eos=False)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            backend.generate(batch.input_ids, batch.attention_mask, max_new_tokens=new_tokens, stop_at_eos=False)
            best = min(best, time.perf_counter() - start)
    finally:
        if handle is not None:
            handle.remove()
    return len(prompts) * new_tokens / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        loaded = _organism() or _random_model(Path(tmp))
        model, sae, label = loaded
        site = tr.check_sae_compatible(model, sae)
        features = [1, 2]
        prompts = ["What is 47 + 38?", "Question: 12 * 3 = ?", "wait, let me", "Compute 100 - 23."][: args.batch]
        prompts += prompts * (args.batch // 4)
        prompts = prompts[: args.batch]

        def feat(mode: str, positions: str = "all") -> Any:
            return tr.feature_steering(sae, features, strength=2.0, mode=mode, f_max=5.0, positions=positions)

        configs: dict[str, Any] = {
            "unsteered": None,
            "add": feat("add"),
            "add, positions=generated": feat("add", "generated"),
            "add, positions=thinking": feat("add", "thinking"),
            "clamp": feat("clamp"),
            "cap": feat("cap"),
            "ablate": feat("ablate"),
            "clamp, full SAE (official)": tr.Steering(site, _full_sae_clamp(sae, features, 10.0)),
        }
        rates = {name: _time(model, prompts, args.new_tokens, s, args.repeats) for name, s in configs.items()}
    base = rates["unsteered"]
    print(f"model: {label}; site {site}; batch {len(prompts)} × {args.new_tokens} new tokens; "
          f"KV cache; threads {torch.get_num_threads()}; best of {args.repeats}")
    print(f"{'configuration':<30} {'tokens/s':>10} {'vs unsteered':>13}")
    for name, rate in rates.items():
        print(f"{name:<30} {rate:>10.1f} {rate / base:>12.3f}x")
    verdict = "meets" if rates["add"] / base >= 0.9 else "misses"
    print(f"add steering {verdict} the goal (>= 0.9x): {rates['add'] / base:.3f}x")
    print(f"clamp costs {rates['add'] / rates['clamp']:.3f}x the time of add; the full-SAE clamp "
          f"{rates['add'] / rates['clamp, full SAE (official)']:.3f}x")


if __name__ == "__main__":
    main()
