# %% [markdown]
# # The paper's setting: DeepSeek-R1-Distill-Llama-8B with the paper's SAE
#
# tutorial-ci: not executed (it needs a GPU and downloads; `tests/test_tutorial_paper_setting.py` checks
# everything up to the first download)
#
# Galichin et al., *"I Have Covered All the Bases Here"* (arXiv 2503.18878) find reasoning features in
# DeepSeek-R1-Distill-Llama-8B with a ReLU SAE of 65,536 features on the **layer-19 residual
# stream**, score every feature by **ReasonScore** on OpenThoughts-114k reasoning traces, and steer
# single features at **γ = 2** while the model solves **AIME-2024, MATH-500 and GPQA-Diamond**.
# This tutorial runs that pipeline with tl-reasoning, step by step:
#
# 1. configuration and checks (no network);
# 2. the scoring corpus: OpenThoughts-114k traces in the paper's format;
# 3. model and SAE from the Hugging Face Hub;
# 4. ReasonScore over ~10M tokens, candidates above the 0.997 quantile;
# 5. one steered generation to look at;
# 6. evaluation: baseline vs steered vs frequency-matched random features, with paired bootstrap
#    confidence intervals.
#
# **Requirements.** A CUDA GPU with about 40 GB free (the model in bf16 is 16 GB, the SAE in fp32
# 2 GB, and the KV cache 128 KiB per token and sequence: 16 GB for 4 answers of 32,768 tokens), ~20 GB
# of disk, network access to the Hub, and the three benchmark files (below). The full protocol
# samples up to 32,768 tokens per answer, four times per problem, under 21 conditions (the plan
# printed below bounds the total); the paper ran its evaluation with vLLM. The default `quick` preset
# is the same pipeline at a size for a first look.
#
# **Running it.** Nothing below downloads anything unless you ask for it:
#
# ```bash
# TL_REASONING_RUN_PAPER=1 python tutorials/05_paper_setting_r1_distill_llama_8b.py   # quick preset
# TL_REASONING_RUN_PAPER=1 TL_REASONING_PAPER_PRESET=paper python tutorials/05_...py   # the full protocol
# ```
#
# or open it as a notebook (jupytext) and call the stage functions one by one. Without
# `TL_REASONING_RUN_PAPER=1` the script only builds and checks the configuration and prints the plan.

# %%
import dataclasses
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch

import tl_reasoning
from tl_reasoning.loading.hub import fetch_or_explain
from tl_reasoning.loading.models import normalize_backend, resolve_dtype

# %% [markdown]
# ## 1. The setting
#
# Every choice of the paper lives in one frozen dataclass, so a run is described by one object
# (saved next to the results). Where the paper's text and its official code differ, the comment
# says which one we follow.
#
# * **Model and site.** `deepseek-ai/DeepSeek-R1-Distill-Llama-8B` (32 layers, d = 4096); the SAE
#   reads `blocks.19.hook_resid_post`, the output of decoder layer 19 (≈60 % depth).
# * **SAE.** The authors' release on the Hub: repo
#   `andreuka18/deepseek-r1-distill-llama-8b-lmsys-openthoughts`, folder `blocks.19.hook_resid_post`.
#   It is not in sae-lens's release directory, so we load it by Hub path `owner/repo/folder`.
# * **Scoring.** The paper's 10 reasoning words, α = 0.7, q = 0.997 (≈200 candidates of 65,536),
#   ~10M tokens of OpenThoughts-114k. The window is `(1, 2)` tokens around each match, as in the
#   official code that produced the published features (the paper's text says 2 before, 3 after).
#   Activations are multiplied by the decoder norms, as the official code's `fold_W_dec_norm` does.
# * **Steering.** Additive, x ← x + γ·f_max·d_i at every position (prompt included, as the
#   official hook), γ = 2, one feature at a time; f_max = the feature's maximum activation over the
#   scoring corpus, in the SAE's own units.
# * **Evaluation.** The paper's prompts (the `\boxed{}` instruction for AIME/MATH, simple-evals'
#   `Answer: $LETTER` for GPQA) in the model's chat template, sampling at temperature 0.6,
#   top-p 0.95, up to 32,768 new tokens, maj@4 (v2 Table 1); thinking length = tokens before
#   `</think>`.

# %%
PAPER_TABLE1_FEATURES = (3942, 4395, 16441, 16778, 25953, 46691, 61104)  # v2 Table 1 (steered, γ = 2)
PAPER_CODE_FEATURE = 46379  # v1 Table 1 and the official evaluation script

#: Where to get the benchmark files (download them on a connected machine; no network is used here).
BENCHMARK_SOURCES = {
    "AIME-2024": "datasets/simplescaling/aime24_nofigures (or Maxwell-Jia/AIME_2024): its train split",
    "MATH-500": "datasets/HuggingFaceH4/MATH-500: test.jsonl",
    "GPQA-Diamond": "datasets/Idavidrein/gpqa (gated): gpqa_diamond.csv",
}
BENCHMARK_SIZES = {"AIME-2024": 30, "MATH-500": 500, "GPQA-Diamond": 198}


@dataclass(frozen=True)
class PaperSetting:
    """Everything a run of the paper's pipeline depends on."""

    model: str = "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
    n_layers: int = 32
    d_model: int = 4096
    sae_repo: str = "andreuka18/deepseek-r1-distill-llama-8b-lmsys-openthoughts"
    site: str = "blocks.19.hook_resid_post"
    d_sae: int = 65_536
    backend: str = "nnsight"
    """nnsight wraps the Hugging Face model as is (generation with its KV cache); "hooked"/"bridge" work too."""
    device: str = "cuda"
    dtype: str = "bfloat16"
    sae_dtype: str = "float32"
    # scoring corpus: OpenThoughts-114k ("metadata" config), stratified by domain like the official extraction set
    corpus_dataset: str = "open-thoughts/OpenThoughts-114k"
    corpus_config: str = "metadata"
    corpus_docs: int = 10_000
    corpus_seed: int = 42
    corpus_file: str | None = None
    """A ready JSONL corpus with a "text" field; skips the dataset download."""
    max_tokens: int = 10_000_000
    context_size: int = 1024
    batch_size: int = 8
    window: tuple[int, int] = (1, 2)
    alpha: float = 0.7
    quantile: float = 0.997
    # steering and evaluation
    strength: float = 2.0
    n_steered: int = 10
    n_random_controls: int = 1
    """Frequency-matched random features per steered feature (the control for "any feature would do")."""
    benchmarks: dict[str, str] = field(default_factory=dict)
    limit: int | None = None
    """Problems per benchmark (None: all)."""
    n_samples: int = 4
    max_new_tokens: int = 32_768
    temperature: float = 0.6
    top_p: float = 0.95
    eval_batch_size: int = 4
    """Answers generated together (the KV cache of 4 x 32,768 tokens is 16 GB)."""
    seed: int = 0
    out_dir: str = "runs/paper_setting"

    @property
    def sae_spec(self) -> str:
        """What `tl_reasoning.load_sae` takes: the Hub repo and the folder holding the SAE."""
        return f"{self.sae_repo}/{self.site}"

    @classmethod
    def from_env(cls) -> "PaperSetting":
        """The preset named by TL_REASONING_PAPER_PRESET (`quick` or `paper`), with paths from the environment.

        TL_REASONING_PAPER_DATA: folder holding the benchmark files (default `paper_data`);
        TL_REASONING_PAPER_OUT: output folder; TL_REASONING_PAPER_CORPUS: a ready JSONL corpus;
        TL_REASONING_PAPER_DEVICE: torch device (default `cuda`).
        """
        preset = os.environ.get("TL_REASONING_PAPER_PRESET", "quick")
        data = Path(os.environ.get("TL_REASONING_PAPER_DATA", "paper_data"))
        base = cls(
            benchmarks={"AIME-2024": str(data / "aime24_nofigures.parquet"),
                        "MATH-500": str(data / "math500_test.jsonl"),
                        "GPQA-Diamond": str(data / "gpqa_diamond.csv")},
            device=os.environ.get("TL_REASONING_PAPER_DEVICE", "cuda"),
            corpus_file=os.environ.get("TL_REASONING_PAPER_CORPUS") or None,
            out_dir=os.environ.get("TL_REASONING_PAPER_OUT", f"runs/paper_setting_{preset}"),
        )
        if preset == "paper":
            return base
        if preset == "quick":  # same pipeline, smaller: 1M scoring tokens, 3 features, 20 problems, 1 sample
            return dataclasses.replace(base, corpus_docs=1_000, max_tokens=1_000_000, n_steered=3, limit=20,
                                       n_samples=1, max_new_tokens=4096, eval_batch_size=16)
        raise ValueError(f"TL_REASONING_PAPER_PRESET={preset!r}: use 'quick' or 'paper'")


SETTING = PaperSetting.from_env()

# %% [markdown]
# ### Checks before anything is downloaded
#
# A run that fails after an hour of downloading and scoring because a benchmark file is missing or
# the GPU is too small wastes the hour. `check_setting` validates what can be validated offline and
# returns the problems instead of raising, so the plan can be printed in full.

# %%
def check_setting(setting: PaperSetting) -> list[str]:
    """Problems that would stop a run, found without the network (an empty list: ready to run)."""
    problems: list[str] = []
    site = tl_reasoning.Site.parse(setting.site)  # raises on a malformed site name
    if site.layer >= setting.n_layers:
        problems.append(f"site {setting.site} is past the model's {setting.n_layers} layers")
    if setting.model.count("/") != 1:
        problems.append(f"model {setting.model!r} is not a Hub id owner/name")
    normalize_backend(setting.backend)
    resolve_dtype(setting.dtype)
    resolve_dtype(setting.sae_dtype)
    if not 0 < setting.quantile < 1 or setting.alpha < 0 or setting.strength == 0:
        problems.append("quantile must be in (0, 1), alpha >= 0 and the strength non-zero")
    device = torch.device(setting.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            problems.append("no CUDA GPU is visible (set TL_REASONING_PAPER_DEVICE to run elsewhere, slowly)")
        else:
            free, _ = torch.cuda.mem_get_info(device)
            if free < 40 * 2**30:
                problems.append(f"only {free / 2**30:.0f} GiB free on {device}; about 40 GiB are needed")
    for name, path in setting.benchmarks.items():
        if not Path(path).exists():
            problems.append(f"{name}: {path} does not exist; download {BENCHMARK_SOURCES.get(name, name)}")
    if setting.corpus_file is not None and not Path(setting.corpus_file).is_file():
        problems.append(f"corpus file {setting.corpus_file} does not exist")
    return problems


def stats_config(setting: PaperSetting) -> tl_reasoning.StatsConfig:
    """How statistics are collected (the object `tl-reasoning score` builds from its flags)."""
    return tl_reasoning.StatsConfig(window=setting.window, decoder_norm=True, word_boundary=True,
                                    context_size=setting.context_size, batch_size=setting.batch_size,
                                    max_tokens=setting.max_tokens)


def eval_options(setting: PaperSetting) -> dict:
    """Generation and bootstrap options of `tl_reasoning.evaluation.evaluate`."""
    return dict(n_samples=setting.n_samples, max_new_tokens=setting.max_new_tokens,
                batch_size=setting.eval_batch_size, do_sample=True, temperature=setting.temperature,
                top_p=setting.top_p, seed=setting.seed, think_end="</think>", progress=True)


STATS_CONFIG = stats_config(SETTING)
EVAL_OPTIONS = eval_options(SETTING)

PROBLEMS = check_setting(SETTING)
n_problems = sum(min(SETTING.limit or size, size) for name, size in BENCHMARK_SIZES.items()
                 if name in SETTING.benchmarks)
n_conditions = 1 + SETTING.n_steered * (1 + SETTING.n_random_controls)
generated = n_problems * SETTING.n_samples * n_conditions * SETTING.max_new_tokens
print(f"model {SETTING.model} | SAE {SETTING.sae_spec} ({SETTING.d_sae} features)")
print(f"scoring: {SETTING.max_tokens:,} tokens of {SETTING.corpus_dataset}, window {SETTING.window}, "
      f"alpha {SETTING.alpha}, q {SETTING.quantile}")
print(f"evaluation: {n_problems} problems x {SETTING.n_samples} samples x {n_conditions} conditions "
      f"(baseline, {SETTING.n_steered} features at gamma {SETTING.strength:g}, random controls): "
      f"at most {generated:,} generated tokens")
print("ready to run" if not PROBLEMS else "before running:\n  - " + "\n  - ".join(PROBLEMS))

# %% [markdown]
# ## 2. The scoring corpus
#
# The paper scores features on OpenThoughts-114k: problems with DeepSeek-R1 reasoning traces and
# solutions, in six domains. The official extraction set takes 10,000 samples stratified by domain
# (seed 42) and formats each as the model sees a conversation,
# `<｜User｜>{problem}<｜Assistant｜><think>\n{reasoning}\n</think>\n{solution}` (math problems get the
# `\boxed{}` instruction). We write that to a local JSONL file once; `collect_stats` reads it like any
# corpus. (The official format also starts with OpenThoughts' system prompt, which the `metadata`
# config does not carry; we leave it out.)

# %%
MATH_PREFIX = "Return your final response within \\boxed{}. "


def format_trace(row: dict) -> str:
    """One OpenThoughts row as the paper's conversation text (BOS is added by tl-reasoning)."""
    problem = (MATH_PREFIX if row.get("domain") == "math" else "") + str(row["problem"]).strip()
    return (f"<｜User｜>{problem}<｜Assistant｜><think>\n{str(row['deepseek_reasoning']).strip()}\n</think>\n"
            f"{str(row['deepseek_solution']).strip()}")


def stratified(rows: list[dict], n: int, seed: int) -> list[dict]:
    """`n` rows, as equal a share per domain as the domains allow (topped up from the rest), shuffled."""
    rng = random.Random(seed)
    by_domain: dict[str, list[dict]] = {}
    for row in rows:
        by_domain.setdefault(str(row.get("domain", "")), []).append(row)
    for group in by_domain.values():
        rng.shuffle(group)
    share = n // max(1, len(by_domain))
    picked = [r for group in by_domain.values() for r in group[:share]]
    rest = [r for group in by_domain.values() for r in group[share:]]
    rng.shuffle(rest)
    picked += rest[: max(0, n - len(picked))]
    rng.shuffle(picked)
    return picked[:n]


def prepare_corpus(setting: PaperSetting) -> Path:
    """The JSONL scoring corpus: `setting.corpus_file`, a cached copy, or built from the Hub dataset (network)."""
    if setting.corpus_file is not None:
        return Path(setting.corpus_file)
    path = Path(setting.out_dir) / f"openthoughts_{setting.corpus_docs}.jsonl"
    if path.is_file():
        return path
    from datasets import load_dataset

    data = fetch_or_explain(
        f"dataset {setting.corpus_dataset} ({setting.corpus_config})",
        lambda: load_dataset(setting.corpus_dataset, setting.corpus_config, split="train"),
        hint="Download it on a connected machine, or set TL_REASONING_PAPER_CORPUS to a JSONL file with "
             "a 'text' field.",
    )
    rows = stratified([dict(r) for r in data], setting.corpus_docs, setting.corpus_seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({"text": format_trace(row), "domain": row.get("domain")}) + "\n")
    return path


# %% [markdown]
# ## 3. Model and SAE
#
# `load_model` downloads the model once (weights, config, tokenizer) and returns the native nnsight
# model; `load_sae` downloads the SAE folder. Offline, both fail at once with
# `ArtifactUnavailableError` naming what is missing, instead of retrying for half a minute.
# `check_sae_compatible` makes sure the SAE reads this model at the site we expect (a wrong folder or
# a different model fails here, not as nonsense scores later).

# %%
def load_model_and_sae(setting: PaperSetting):
    model = tl_reasoning.load_model(setting.model, backend=setting.backend, device=setting.device,
                                    dtype=setting.dtype)
    sae = tl_reasoning.load_sae(setting.sae_spec, device=setting.device, dtype=setting.sae_dtype)
    site = tl_reasoning.check_sae_compatible(model, sae)
    backend = tl_reasoning.backend_for(model)
    if (site, backend.n_layers, backend.d_model, int(sae.cfg.d_sae)) != \
            (setting.site, setting.n_layers, setting.d_model, setting.d_sae):
        raise ValueError(f"unexpected shapes: site {site}, {backend.n_layers} layers, d_model {backend.d_model}, "
                         f"{sae.cfg.d_sae} SAE features (expected {setting.site}, {setting.n_layers}, "
                         f"{setting.d_model}, {setting.d_sae})")
    return model, sae


# %% [markdown]
# ## 4. ReasonScore
#
# One pass over the corpus collects per-feature sums (inside reasoning-word windows, elsewhere, per
# word) and maxima; ReasonScore and the control scores are computed from them. With a checkpoint the
# pass resumes where it stopped. Each batch costs one forward of the model up to layer 19 and one SAE
# encode (the official code re-ran the model once per 48 features).
#
# What to look at: the number of candidates (the paper reports ≈200), their `top_word` (a
# candidate that only ever fires next to one word is a word detector, see `word_concentration`), and
# where the paper's published features rank in our scores — the closest thing to a reproduction
# check before any generation.

# %%
def score(setting: PaperSetting, model, sae, corpus: Path):
    out = Path(setting.out_dir)
    stats = tl_reasoning.collect_stats(model, sae, str(corpus), config=stats_config(setting),
                                       checkpoint=out / "stats.safetensors", checkpoint_every=50, progress=True)
    result = tl_reasoning.score_stats(stats, alpha=setting.alpha, quantile=setting.quantile)
    result.save(out / "scores")
    print(f"{len(result.selected)} candidates above the {setting.quantile} quantile "
          f"(ReasonScore > {result.threshold:.3g}) from {stats.tokens_seen:,} tokens")
    print(result.table.head(15)[["feature", "reason_score", "entropy", "top_word", "word_concentration",
                                 "separability"]].to_string(index=False))
    ranks = result.table.set_index("feature")["rank"]
    for feature in (*PAPER_TABLE1_FEATURES, PAPER_CODE_FEATURE):
        if feature < stats.n_features:  # (always, with the paper's SAE)
            print(f"paper feature {feature:5d}: rank {int(ranks[feature]):5d} of {stats.n_features}"
                  f"{' (candidate)' if feature in result.selected else ''}")
    return result


# %% [markdown]
# ## 5. One steered generation
#
# Before an evaluation that runs for hours, look at one answer with and without steering: does the
# steered thinking get longer, use more reasoning words, stay coherent? The prompt is built as in the
# evaluation (chat template, the paper's instruction).

# %%
def show_example(setting: PaperSetting, model, sae, result, items):
    from tl_reasoning.evaluation import build_prompt

    feature = result.selected[0]
    prompt = build_prompt(items[0], tl_reasoning.backend_for(model))
    steering = tl_reasoning.feature_steering(sae, [feature], strength=setting.strength, stats=result.stats)
    kwargs = dict(do_sample=True, temperature=setting.temperature, top_p=setting.top_p, seed=setting.seed)
    for label, steer_with in (("baseline", None), (f"feature {feature}, gamma {setting.strength:g}", steering)):
        gen = tl_reasoning.generate(model, [prompt], min(2048, setting.max_new_tokens), steer_with, **kwargs)[0]
        thinking = gen.text.split("</think>")[0]
        print(f"--- {label}: {len(gen.tokens)} tokens, thinking ends: {'</think>' in gen.text}\n{thinking[:1200]}")


# %% [markdown]
# ## 6. Evaluation
#
# `tl_reasoning.evaluation.evaluate` generates every problem under every condition with the same
# prompts, batches and sampling seeds, grades the answers (last `\boxed{}`; `Answer: X` for GPQA),
# measures thinking length and reasoning-word rate, and compares each condition with the baseline by
# a paired bootstrap over problems. Conditions here:
#
# * `baseline`: no intervention;
# * one condition per candidate feature, steered alone at γ = 2 with its own f_max;
# * for each candidate, random features with the same activation frequency, steered the same way:
#   if they move accuracy or length as much, the effect is not specific to reasoning features.
#
# Rule-based grading (normalised LaTeX, numbers compared exactly) still misses some equivalent
# answers (the paper's README says AIME and MATH "require a verifier", an LLM judge); the baseline
# and the steered runs are graded alike, so the differences remain comparable.

# %%
def load_benchmarks(setting: PaperSetting) -> dict[str, list]:
    from tl_reasoning.evaluation import load_eval_benchmark

    return {name: load_eval_benchmark(path, setting.limit, seed=setting.seed)
            for name, path in setting.benchmarks.items()}


def conditions_for(setting: PaperSetting, sae, result) -> dict:
    from tl_reasoning.evaluation import (
        matched_random_features,
        random_feature_conditions,
        steering_conditions,
    )

    features = result.selected[: setting.n_steered]
    conditions = steering_conditions(sae, features, setting.strength, stats=result.stats)
    if setting.n_random_controls:
        matches = matched_random_features(result.stats, features, setting.n_random_controls, seed=setting.seed,
                                          exclude=result.selected)
        conditions.update(random_feature_conditions(sae, matches, setting.strength))
    return conditions


def evaluate_all(setting: PaperSetting, model, sae, result, benchmarks: dict[str, list]) -> dict:
    from tl_reasoning.evaluation import evaluate

    conditions = conditions_for(setting, sae, result)
    out = {}
    for name, items in benchmarks.items():
        evaluation = evaluate(model, items, conditions, **eval_options(setting))
        evaluation.save(Path(setting.out_dir) / "evaluation" / name)
        print(f"\n{name} ({len(items)} problems)\n{evaluation.table()}")
        out[name] = evaluation
    return out


# %% [markdown]
# ## Putting it together
#
# `main` runs the stages in order and writes everything under `setting.out_dir`: `setting.json`,
# `stats.safetensors` (resumable), `scores/` (`scores.csv`, `meta.json`) and `evaluation/<benchmark>/`
# (summary, per-generation records, the table). Compare the tables with the paper's v2 Table 1:
# accuracy within a few points of the baseline, thinking length up to +20 % for some features.

# %%
def main(setting: PaperSetting = SETTING) -> None:
    problems = check_setting(setting)
    if problems:
        raise SystemExit("cannot run the paper's setting:\n  - " + "\n  - ".join(problems))
    out = Path(setting.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "setting.json").write_text(json.dumps(dataclasses.asdict(setting), indent=1) + "\n", encoding="utf-8")
    benchmarks = load_benchmarks(setting)           # local files: fail before any download
    corpus = prepare_corpus(setting)                # network (once)
    model, sae = load_model_and_sae(setting)        # network (once)
    result = score(setting, model, sae, corpus)
    show_example(setting, model, sae, result, benchmarks.get("MATH-500") or next(iter(benchmarks.values())))
    evaluate_all(setting, model, sae, result, benchmarks)


if __name__ == "__main__":
    if os.environ.get("TL_REASONING_RUN_PAPER") == "1":
        main(SETTING)
    else:
        print("dry run: set TL_REASONING_RUN_PAPER=1 to download the model, the SAE and the corpus and run")
