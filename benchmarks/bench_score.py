"""Benchmark of one-pass ReasonScore statistics (``tl_reasoning.collect_stats``).

Prints, from one run (not a unit test):

* tokens/s of scoring vs **(a) the limit**: a bare forward to the SAE's layer plus ``sae.encode``
  on the same batches and tokens (nothing else) — goal: ratio ≥ 0.85;
* vs **(b) a loop structured like the official code** (paper.md §1.2, §10): one forward pass per
  batch of 48 features, masks rebuilt per feature batch, per-group boolean gathers. It runs on a
  subset of the feature batches and is extrapolated to all ``ceil(d_sae / 48)`` (said in the output);
* peak resident memory of scoring at two corpus sizes, each in a fresh subprocess (flat = bounded).

Uses the model organism when its artifacts exist, else a random Llama + random SAE built here.

    .venv/bin/python benchmarks/bench_score.py [--docs 96] [--feature-batches 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

warnings.simplefilter("ignore")

WORDS = ("the a number sum is of we to and check answer value total step first then so it this that two three "
         "four five plus minus equals result problem").split()
VOCAB_WORDS = ("wait", "hmm", "maybe", "but", "therefore", "however", "perhaps", "alternatively", "another",
               "let me")


def synthetic_corpus(n_docs: int, words_per_doc: int = 180, seed: int = 0) -> list[str]:
    """Reasoning-like texts: filler words with vocabulary words sprinkled in (about 1 in 12)."""
    gen = torch.Generator().manual_seed(seed)
    docs = []
    for _ in range(n_docs):
        picks = torch.randint(len(WORDS), (words_per_doc,), generator=gen).tolist()
        vocab = torch.rand(words_per_doc, generator=gen) < 1 / 12
        vpick = torch.randint(len(VOCAB_WORDS), (words_per_doc,), generator=gen).tolist()
        docs.append(" ".join(VOCAB_WORDS[v] if is_v else WORDS[p] for p, is_v, v in zip(picks, vocab, vpick, strict=True)))
    return docs


def build_random(root: Path) -> tuple[str, str]:
    """A random 4-layer Llama (d_model 256) with a BPE tokenizer, and a random SAE (d_sae 4096) on layer 2."""
    from sae_lens import SAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1000, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(synthetic_corpus(200, seed=1), trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=256, intermediate_size=768, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=False)
    model_dir, sae_dir = root / "bench_model", root / "bench_sae"
    LlamaForCausalLM(config).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    meta = SAEMetadata(hook_name="blocks.2.hook_resid_post", model_name="bench", hook_head_index=None)
    sae = SAE.from_dict(StandardSAEConfig(d_in=256, d_sae=4096, metadata=meta).to_dict())
    with torch.no_grad():  # a sparse-ish random SAE: negative encoder bias, so ~5 % of features fire
        sae.b_enc.fill_(-0.6 * sae.W_enc.norm(dim=0).mean().item())
    sae.save_model(str(sae_dir))
    return str(model_dir), str(sae_dir)


def load(model_spec: str, sae_spec: str, device: str) -> tuple:
    import tl_reasoning as tr

    model = tr.load_model(model_spec, backend="hooked", device=device)
    sae = tr.load_sae(sae_spec, device=device)
    return model, sae


def organism_available() -> bool:
    from tl_reasoning.organism import model_dir, sae_dir

    return (model_dir("organism") / "config.json").is_file() and (sae_dir("organism") / "cfg.json").is_file()


def corpus_for(args: argparse.Namespace, n_docs: int) -> list[str]:
    if args.model == "organism":
        from itertools import islice

        from tl_reasoning.scoring.collect import texts_of

        docs = list(islice(iter(texts_of("organism:reasoning:train")), n_docs))
        if len(docs) < n_docs:  # repeat a small corpus to reach the size asked for
            docs = (docs * math.ceil(n_docs / max(len(docs), 1)))[:n_docs]
        return docs
    return synthetic_corpus(n_docs)


# --------------------------------------------------------------------------------------- timings
def time_scoring(model, sae, docs, config) -> tuple[float, int]:
    from tl_reasoning.scoring import collect_stats

    start = time.perf_counter()
    stats = collect_stats(model, sae, docs, config=config)
    return time.perf_counter() - start, stats.tokens_seen


def time_limit(model, sae, docs, config) -> tuple[float, int]:
    """Forward to the SAE's layer + ``sae.encode`` on exactly the counted tokens of the same batches."""
    from tl_reasoning import backend_for, check_sae_compatible
    from tl_reasoning.scoring.windows import valid_tokens

    backend = backend_for(model)
    site = check_sae_compatible(model, sae)
    special = sorted(backend.special_token_ids)
    chunk = max(64, min(8192, (1 << 26) // int(sae.cfg.d_sae)))
    tokens = 0
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(docs), config.batch_size):
            ids, mask = backend.tokenize(docs[i:i + config.batch_size], max_length=config.context_size)
            rows = valid_tokens(ids, mask, special).reshape(-1).nonzero().squeeze(1)
            resid = backend.capture(ids, [site], attention_mask=mask)[site]
            x = resid.reshape(-1, resid.shape[-1])[rows]
            for s in range(0, rows.numel(), chunk):
                sae.encode(x[s:s + chunk])
            tokens += rows.numel()
    return time.perf_counter() - start, tokens


def time_official_style(model, sae, docs, config, n_feature_batches: int) -> tuple[float, int, int]:
    """The official loop on ``n_feature_batches`` batches of 48 features; returns (time, batches run, total)."""
    from tl_reasoning import backend_for, check_sae_compatible
    from tl_reasoning.vocab import expand_vocabulary

    backend = backend_for(model)
    site = check_sae_compatible(model, sae)
    layer = int(site.split(".")[1])
    vocab = expand_vocabulary(None, backend.tokenizer)
    special = torch.tensor(sorted(backend.special_token_ids))
    d_sae, per = int(sae.cfg.d_sae), 48
    total_batches = math.ceil(d_sae / per)
    w_enc, b_enc = sae.W_enc.detach(), sae.b_enc.detach()
    start = time.perf_counter()
    with torch.no_grad():
        for fb in range(min(n_feature_batches, total_batches)):
            feats = torch.arange(fb * per, min((fb + 1) * per, d_sae))
            n_groups = vocab.n_groups
            mean_word = torch.zeros(n_groups, len(feats))
            mean_pos = torch.zeros(len(feats))
            mean_neg = torch.zeros(len(feats))
            n_word, n_pos, n_neg = torch.zeros(n_groups), 0, 0
            for i in range(0, len(docs), config.batch_size):
                ids, mask = backend.tokenize(docs[i:i + config.batch_size], max_length=config.context_size)
                resid = model.run_with_cache(ids, names_filter=site, stop_at_layer=layer + 1)[1][site]
                x = resid - sae.b_dec if sae.cfg.apply_b_dec_to_input else resid
                acts = torch.relu(x @ w_enc[:, feats] + b_enc[feats])  # FeatureMaskingContext: 48 columns
                ignore = torch.isin(ids, special) | (mask == 0)
                group_masks = []
                for g in range(n_groups):  # masks rebuilt per feature batch (official inefficiency 3)
                    m = torch.zeros_like(ids, dtype=torch.bool)
                    for v in vocab.for_group(g):
                        span = ids.shape[1] - len(v.ids) + 1
                        if span <= 0:
                            continue
                        hit = torch.ones(ids.shape[0], span, dtype=torch.bool)
                        for k, t in enumerate(v.ids):
                            hit &= ids[:, k:k + span] == t
                        for k in range(len(v.ids)):
                            m[:, k:k + span] |= hit
                    w = m.clone()
                    for s in range(1, config.window[1] + 1):
                        w[:, s:] |= m[:, :-s]
                    for s in range(1, config.window[0] + 1):
                        w[:, :-s] |= m[:, s:]
                    group_masks.append(w & ~ignore)
                pos = torch.stack(group_masks).any(0)
                neg = ~pos & ~ignore
                for g, gm in enumerate(group_masks):  # boolean gathers + running means (inefficiency 4)
                    n = int(gm.sum())
                    if n:
                        mean_word[g] += n / (n_word[g] + n) * (acts[gm].mean(0) - mean_word[g])
                        n_word[g] += n
                for m, (mean, count) in ((pos, (mean_pos, n_pos)), (neg, (mean_neg, n_neg))):
                    n = int(m.sum())
                    if n:
                        mean += n / (count + n) * (acts[m].mean(0) - mean)
                n_pos += int(pos.sum())
                n_neg += int(neg.sum())
    return time.perf_counter() - start, min(n_feature_batches, total_batches), total_batches


def cpu_timed(fn, *args) -> tuple[float, float, int]:
    """``(wall seconds, process CPU seconds, tokens)`` of ``fn(*args)``."""
    cpu = time.process_time()
    wall, tokens = fn(*args)
    return wall, time.process_time() - cpu, tokens


# ------------------------------------------------------------------------------------ peak memory
def child_peak_memory(args: argparse.Namespace, n_docs: int) -> None:
    """Run scoring on ``n_docs`` documents in this (fresh) process and print the peak RSS."""
    from tl_reasoning.scoring import StatsConfig

    model, sae = load(args.model, args.sae, args.device)
    docs = corpus_for(args, n_docs)
    before = _rss_kib("VmRSS")
    reset = _reset_peak_rss()  # so the peak below is the scoring's, not the loading's
    elapsed, tokens = time_scoring(model, sae, docs, StatsConfig(batch_size=args.batch_size,
                                                                 context_size=args.context_size))
    peak = _rss_kib("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"docs": n_docs, "tokens": tokens, "seconds": elapsed, "rss_after_load_mib": before / 1024,
                      "peak_rss_mib": peak / 1024, "peak_is_scoring_only": reset}))


def _rss_kib(field: str) -> float:
    """``VmRSS`` (current) or ``VmHWM`` (peak since the last reset) of this process, in KiB (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (``echo 5 > /proc/self/clear_refs``); False where not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=64, help="documents in the timed corpus")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions (alternating; best kept)")
    parser.add_argument("--feature-batches", type=int, default=2, help="official-style feature batches actually run")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--context-size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--memory-sizes", default="32,256", help="two corpus sizes (documents) for peak memory")
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--sae", help=argparse.SUPPRESS)
    parser.add_argument("--child-docs", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_docs:
        child_peak_memory(args, args.child_docs)
        return

    from tl_reasoning.scoring import StatsConfig

    torch.set_num_threads(max(1, torch.get_num_threads()))
    tmp = tempfile.TemporaryDirectory()
    if organism_available():
        args.model, args.sae, what = "organism", "organism", "the model organism"
    else:
        args.model, args.sae = build_random(Path(tmp.name))
        what = "a random Llama (4 layers, d_model 256) + random SAE (d_sae 4096) at blocks.2 (no organism artifacts)"
    model, sae = load(args.model, args.sae, args.device)
    docs = corpus_for(args, args.docs)
    config = StatsConfig(batch_size=args.batch_size, context_size=args.context_size)
    print(f"model: {what}; d_sae={int(sae.cfg.d_sae)}; {len(docs)} documents; device {args.device}; "
          f"{torch.get_num_threads()} threads")

    time_scoring(model, sae, docs[: args.batch_size], config)  # warm-up
    time_limit(model, sae, docs[: args.batch_size], config)
    limits, scorings = [], []
    for _ in range(args.repeats):  # alternate, so load from other processes hits both alike; keep the best
        limits.append(cpu_timed(time_limit, model, sae, docs, config))
        scorings.append(cpu_timed(time_scoring, model, sae, docs, config))
    limit_s, limit_cpu, limit_tok = min(limits)
    score_s, score_cpu, score_tok = min(scorings)
    limit_cpu, score_cpu = min(r[1] for r in limits), min(r[1] for r in scorings)
    assert score_tok == limit_tok, (score_tok, limit_tok)
    off_s, ran, total = time_official_style(model, sae, docs, config, args.feature_batches)
    off_total_s = off_s / ran * total
    print(f"\nscoring (one pass, all features):  {score_tok / score_s:10.0f} tokens/s  ({score_s:.2f} s)")
    print(f"(a) limit: forward + sae.encode:     {limit_tok / limit_s:10.0f} tokens/s  ({limit_s:.2f} s)")
    print(f"(b) official-style loop (48/pass):   {score_tok / off_total_s:10.2f} tokens/s  "
          f"(ran {ran} of {total} feature batches in {off_s:.2f} s, extrapolated to {off_total_s:.0f} s)")
    print(f"\nscoring / limit, wall time: {limit_s / score_s:.3f}   (goal >= 0.85; best of {args.repeats} alternating "
          f"runs: scoring {[round(r[0], 2) for r in scorings]} s, limit {[round(r[0], 2) for r in limits]} s)")
    print(f"scoring / limit, CPU time:  {limit_cpu / score_cpu:.3f}   (process CPU seconds, robust to other load on "
          f"the machine: scoring {[round(r[1], 2) for r in scorings]}, limit {[round(r[1], 2) for r in limits]})")
    print(f"scoring speed-up vs (b):  {off_total_s / score_s:.0f}x   (d_sae / 48 = {int(sae.cfg.d_sae) / 48:.0f})")

    print("\npeak resident memory of scoring (fresh process per corpus size):")
    for n_docs in (int(s) for s in args.memory_sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--child-docs", str(n_docs), "--model", args.model, "--sae",
                              args.sae, "--device", args.device, "--batch-size", str(args.batch_size),
                              "--context-size", str(args.context_size)],
                             capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        what = "peak RSS during scoring" if row["peak_is_scoring_only"] else "peak RSS of the process"
        print(f"  {row['docs']:5d} docs, {row['tokens']:7d} tokens: {what} {row['peak_rss_mib']:.0f} MiB "
              f"(RSS before scoring {row['rss_after_load_mib']:.0f} MiB)")
    tmp.cleanup()


if __name__ == "__main__":
    main()
