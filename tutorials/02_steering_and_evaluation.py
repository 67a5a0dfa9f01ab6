# %% [markdown]
# # Steering reasoning features and evaluating the effect
#
# The quickstart found the organism's reasoning features by ReasonScore and steered the top one
# once. This tutorial does what the paper does next (arXiv 2503.18878, §4–5):
#
# 1. **score** the features and pick the candidates at run time;
# 2. **steer** them: the four steering modes, the strength γ and the activation scale f_max, which
#    token positions are steered, a strength sweep in one batch, and SAE-free directions;
# 3. **evaluate** the effect with `tl_reasoning.evaluation`: accuracy, thinking length and
#    reasoning-word rate against the unsteered baseline with paired-bootstrap confidence
#    intervals, next to the two controls (random features matched on activation frequency, and
#    the word-ban experiment); then loading the AIME-2024 / MATH-500 / GPQA files you download;
# 4. the same evaluation from the command line (`tl-reasoning evaluate`).
#
# Everything runs offline on the shipped model organism in under a minute on one CPU core, so the
# evaluation below is deliberately tiny (8 problems, 2 random controls per feature, 3 random word
# bans): it shows the mechanics and the shape of the results, not a finding. The demo
# (`tl-reasoning demo`) runs the full-size version. Background: `docs/evaluation.md`.
#
# Run as a script (`python tutorials/02_steering_and_evaluation.py`) or open with jupytext as a notebook.

# %%
import tempfile
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
import torch

import tl_reasoning
from tl_reasoning.evaluation import (
    EvaluationResult,
    RandomWordBans,
    WordBan,
    WordCounter,
    build_prompt,
    evaluate,
    extract_answer,
    generation_metrics,
    grade,
    load_eval_benchmark,
    matched_random_features,
    random_feature_conditions,
    steering_conditions,
)
from tl_reasoning.steering import resolve_token_id

torch.set_num_threads(1)  # the organism is tiny: one thread is fastest, and never oversubscribes a shared CPU

model = tl_reasoning.load_model("organism")  # a TransformerLens HookedTransformer
sae = tl_reasoning.load_sae("organism")      # sae-lens TopK SAE on blocks.2.hook_resid_post
site = tl_reasoning.check_sae_compatible(model, sae)
backend = tl_reasoning.backend_for(model)    # tokenizer, special tokens, decoding: the same on every backend
print(type(model).__name__, site, sae.cfg.d_sae, "features")

# %% [markdown]
# ## 1. Score the features and pick the candidates
#
# One pass over reasoning traces scores every feature by ReasonScore (paper Eq. 5). `result.selected`
# lists the candidates above the 0.997 quantile of all scores (Eq. 6), best first. We steer the top
# two. The organism is retrained from time to time, so feature ids and every number printed below
# come from the run, never from the text: do the same with any model you may retrain.
#
# The statistics behind the scores (`result.stats`) also hold what steering and its controls need:
# each feature's maximum activation (f_max) and its activation histogram (activation frequency).

# %%
result = tl_reasoning.score_features(model, sae, "organism:reasoning", max_docs=100, progress=False)
columns = ["feature", "reason_score", "mean_reasoning", "mean_other", "f_max_raw", "top_word"]
print(result.table.head(6)[columns])
candidates = result.selected or result.table["feature"].tolist()
TOP = [int(f) for f in candidates[:2]]
f_max = tl_reasoning.f_max_from_stats(result.stats, TOP)  # [k], in the units of sae.encode
print(f"{len(result.selected)} candidates above the {result.quantile} quantile; steering {TOP}, "
      f"f_max = {[round(float(v), 2) for v in f_max]}")
top = TOP[0]

# %% [markdown]
# ## 2. Steering
#
# ### Baseline first, and how long the organism thinks
#
# Evaluation problems come from `load_eval_benchmark` (section 3). The organism writes
# `<think> ... </think>` and then `Answer: N`. Before steering anything we generate the unsteered
# baseline and *measure* how long its thinking takes. Generation always runs `max_new_tokens`
# decoding steps (rows that emitted EOS are padded), so this budget sets the cost of everything that
# follows; it must let every baseline trace finish, or thinking length is truncated and accuracy
# undercounted. We give the baseline the length of the longest training trace (within the context
# window), then size the evaluation's budget on what the baseline actually used, plus 10 %.
#
# To describe a generation we use the evaluation's own per-generation metrics: `generation_metrics`
# (thinking tokens, reasoning words counted with `WordCounter`, whether the thinking section closed)
# and `grade` (answer extraction and checking).

# %%
items = load_eval_benchmark("organism", limit=8)
prompts = [item.prompt for item in items]
counter = WordCounter(backend.tokenizer)  # the paper's 10 reasoning words
THINK_END = resolve_token_id(backend, "</think>")


def describe(generation, item):
    """One line: thinking length, reasoning words, the extracted answer and whether it is right."""
    m = generation_metrics(generation.tokens, counter, think_end_id=THINK_END, eos_id=backend.eos_token_id,
                           skip=backend.special_token_ids)
    answer, correct = grade(generation.text, item)
    return (f"think {m.thinking_tokens:3d} tok{'' if m.think_closed else ' (open)'}, "
            f"{m.reasoning_words:2d} reasoning words, answer {answer} {'✓' if correct else '✗'}")


def round_up(n, step=32):
    return step * -(-int(n) // step)


def n_tokens(text):
    return backend.tokenize(text).input_ids.shape[1]


traces = [d["text"] for d, _ in zip(tl_reasoning.load_corpus("organism:reasoning"), range(200), strict=False)]
trace_tokens = max(n_tokens(t[t.index("<think>"):]) for t in traces)
room = model.cfg.n_ctx - max(n_tokens(p) for p in prompts)  # prompt + new tokens must fit the context
baseline = tl_reasoning.generate(model, prompts, min(room, round_up(trace_tokens)))
longest = max(len(g.tokens) for g in baseline)
MAX_NEW_TOKENS = min(room, round_up(1.1 * longest))
print(f"training traces: up to {trace_tokens} tokens; baseline: {min(len(g.tokens) for g in baseline)} to "
      f"{longest} tokens -> max_new_tokens = {MAX_NEW_TOKENS} for the evaluation\n")
print(items[0].prompt + baseline[0].text)
assert all(THINK_END in g.tokens for g in baseline), "the organism should close its thinking section"

# %% [markdown]
# ### Steering modes, strength γ and f_max
#
# `feature_steering(sae, features, mode=, strength=, f_max=, positions=)` builds a `Steering` (a site
# plus a plain-torch edit); `generate(model, prompts, n, steering)` installs it for one call, and
# `with tl_reasoning.steer(model, sae, features=..., ...)` for a block. The modes (for feature *i*,
# direction `d_i = decode(e_i) − decode(0)` — what one unit of the latent adds to the SAE's
# reconstruction, `W_dec[i]/‖W_dec[i]‖` for this rescaled TopK SAE — target `t = γ·f_max`):
#
# | mode | edit of the residual `x` at every steered position | source |
# |---|---|---|
# | `add` | `x + γ·f_max·d_i` | paper Eq. 7 |
# | `clamp` | encode, set latent *i* to `t`, decode, add back the SAE error `x − x̂`: `x + (t − f_i(x))·d_i` | official code (`get_intervention_hook`) |
# | `cap` | the projection on the unit direction `d̂ = d_i/‖d_i‖` set to `t` (`only_above=True`: lowered to `t` only where it exceeds it) | official code (`get_clamp_hook`) |
# | `ablate` | the feature switched off: `x − f_i(x)·d_i` (`how="direction"`: remove the component along `d̂`) | — |
#
# `add` pushes by the same amount everywhere, also where the feature is already active; `clamp`
# sets the feature to the target, so it pushes least where the feature already fires. f_max is
# the feature's maximum activation in the scoring pass, in the units of `sae.encode`
# (`f_max_from_stats`, or `stats=result.stats` directly; `tl_reasoning.estimate_f_max(model, sae,
# texts, features, quantile=0.99)` measures it on any texts, less sensitive to outliers). The paper
# steers at γ = 2, twice the largest activation seen in the data. `ablate` uses neither.

# %%
# the problem with the shortest baseline trace, with room for steered thinking to run 50 % longer
demo = min(range(len(items)), key=lambda i: len(baseline[i].tokens))
prompt, item, unsteered = prompts[demo], items[demo], baseline[demo]
DEMO_TOKENS = min(MAX_NEW_TOKENS, round_up(1.5 * len(unsteered.tokens)))
print("baseline:", describe(unsteered, item))
steerings = {
    "add γ=2": tl_reasoning.feature_steering(sae, [top], mode="add", strength=2.0, stats=result.stats),
    "clamp γ=2": tl_reasoning.feature_steering(sae, [top], mode="clamp", strength=2.0, stats=result.stats),
    "cap γ=1": tl_reasoning.feature_steering(sae, [top], mode="cap", strength=1.0, stats=result.stats),
    "ablate": tl_reasoning.feature_steering(sae, [top], mode="ablate"),
}
steered = {}
for name, steering in steerings.items():
    steered[name] = tl_reasoning.generate(model, [prompt], DEMO_TOKENS, steering)[0]
    print(f"{name:>9}:", describe(steered[name], item))
print("\nbaseline:", unsteered.text[:240].replace("\n", " | "))
print("add γ=2: ", steered["add γ=2"].text[:240].replace("\n", " | "))
assert steered["add γ=2"].tokens != unsteered.tokens, "steering the top feature at γ = 2 changes the text"

# %% [markdown]
# Steering several features at once: pass several ids (and one f_max per feature); `strength` may
# then be one value per feature. The steering's `info` records what it does (it is what the
# evaluation saves per condition).

# %%
both = tl_reasoning.feature_steering(sae, TOP, mode="add", strength=[1.0, 0.5], f_max=f_max)
print(dict(both.info))
with tl_reasoning.steer(model, steerings=[both]):  # everything run on the model inside the block is steered
    print("both features:", describe(tl_reasoning.generate(model, [prompt], DEMO_TOKENS)[0], item))

# %% [markdown]
# ### Which positions are steered
#
# The paper steers every position (the prompt and every generated token): `positions="all"`, the
# default. Other rules: `prompt`, `generated`, `thinking` (generated tokens until the row emits
# `</think>`, so the answer is written unsteered) and windows `"START:END"` counted in each row's own
# tokens (0 is its BOS, so left padding does not shift a window). Here: the thinking section only,
# and a window over the first 24 generated tokens.

# %%
prompt_len = backend.tokenize(prompt).input_ids.shape[1]  # BOS + prompt tokens
window = f"{prompt_len}:{prompt_len + 24}"
for positions in ("all", "thinking", window):
    steering = tl_reasoning.feature_steering(sae, [top], strength=2.0, stats=result.stats,
                                             positions=positions)
    generation = tl_reasoning.generate(model, [prompt], DEMO_TOKENS, steering)[0]
    print(f"positions={positions:>9}:", describe(generation, item))

# %% [markdown]
# ### A strength sweep in one batch
#
# `strength` may have one row per batch row, `[batch, k]`: repeat the prompt and generate every
# strength in one call. At γ = 0 the `add` edit returns the activations bit-identical, so the first
# row is the unsteered generation. A model as small as the organism can be derailed by moderate
# strengths already; the paper chose γ = 2 for its 8B model from a sweep (γ = 1…8 on MATH-500). Sweep
# before you settle on γ.

# %%
strengths = torch.tensor([[0.0], [0.25], [0.5], [1.0], [2.0]])  # [batch, k = 1]
sweep_steering = tl_reasoning.feature_steering(sae, [top], strength=strengths, stats=result.stats)
sweep = tl_reasoning.generate(model, [prompt] * len(strengths), DEMO_TOKENS, sweep_steering)
for gamma, generation in zip(strengths[:, 0].tolist(), sweep, strict=True):
    print(f"γ = {gamma:<4}:", describe(generation, item))
assert sweep[0].tokens == unsteered.tokens, "γ = 0 is the unsteered generation"

# %% [markdown]
# ### SAE-free directions
#
# `tl_reasoning.directions` builds steering directions without an SAE (arXiv 2505.15634): for pairs
# of a long (deliberate) and a short text on the same problem, the difference of their mean
# activations at a site; the direction is the mean of those differences (`method="mean"`, natural
# scale) or their top eigenvector (`"eigen"`, unit norm). On the organism, a pair is a reasoning
# trace and the direct answer to the same question (the format of the plain corpus).
# `direction_steering(vector, site, strength)` steers along it like a feature (`add`, `cap`,
# `ablate`; the same position rules; one strength per batch row for a sweep). A useful check: how
# well does the direction line up with the SAE's reasoning features?

# %%
docs = [d for d, _ in zip(tl_reasoning.load_corpus("organism:reasoning"), range(32), strict=False)]
long_texts = [d["text"] for d in docs]
short_texts = [f"Question: {d['question']}\nAnswer: {d['answer']}" for d in docs]
direction = tl_reasoning.reasoning_direction(model, long_texts, short_texts, site, method="mean")
decoder = sae.W_dec.detach()[TOP].float()
cosine = torch.nn.functional.cosine_similarity(decoder, direction[None, :], dim=-1)
print(f"mean-difference direction: norm {float(direction.norm()):.2f}; cosine with the decoder rows of "
      f"{TOP}: "
      f"{[round(float(c), 2) for c in cosine]}")
scales = torch.tensor([0.0, 0.5, 1.0])
by_direction = tl_reasoning.generate(model, [prompt] * len(scales), DEMO_TOKENS,
                                     tl_reasoning.direction_steering(direction, site, scales))
for s, generation in zip(scales.tolist(), by_direction, strict=True):
    print(f"direction × {s:<3}:", describe(generation, item))

# %% [markdown]
# ## 3. Evaluation: baseline vs steered vs controls
#
# `evaluate(model, items, conditions)` generates every problem under every condition, in the same
# batches with the same seeds, and returns an `EvaluationResult`. A condition is `None` (unsteered),
# a `Steering` (or a list), a `WordBan`, `Averaged([...])` (alternatives run once each and averaged per
# problem) or `RandomWordBans(...)`; an unsteered `baseline` is added first. The conditions of a
# paper-style table:
#
# * `steering_conditions(sae, features, strengths, stats=)`: one condition per feature × strength,
#   named `#F γ=S`;
# * `matched_random_features(stats, features, n_per_feature)`: for each candidate, random features
#   with the same **push size** γ·f_max·‖d_j‖ (within ±20 %) and about the same **activation
#   frequency** (the share of tokens where they fire, from the statistics' histogram), each at its
#   own f_max; `random_feature_conditions` turns them into one averaged condition per candidate,
#   `random~#F γ=S` (plus one summary row per control feature). A steering effect means something
#   only if steering an arbitrary feature that fires as often, pushed as hard, does not produce it;
# * `WordBan()`: the paper's 10 reasoning words get logits −inf while the model thinks (the answer is
#   free); `RandomWordBans(n_runs)`: as many random words drawn from the baseline's own thinking text,
#   the ban's control. Does *saying* "wait" matter, or only what the features do?
#
# Sizes here are tiny (8 problems, 2 controls per feature, 3 random bans). The paper evaluates on the
# full benchmarks (maj@4 over sampled answers) and averages 10 random bans; the frequency-matched
# random features are tl-reasoning's addition (the paper has no random-feature control): use 3 or more
# per feature.

# %%
conditions = steering_conditions(sae, TOP, 2.0, stats=result.stats)
matches = matched_random_features(result.stats, TOP, n_per_feature=2, seed=0)
for m in matches:
    print(f"control #{m.feature:<4} for #{m.matched_to:<4}: frequency {m.frequency:.4f} "
          f"(candidate {m.target_frequency:.4f}), f_max {m.f_max:.2f}")
controls = random_feature_conditions(sae, matches, 2.0)  # {"random~#F γ=2": Averaged([...])}
conditions |= controls
conditions |= {"word ban": WordBan(), "random words": RandomWordBans(n_runs=3, seed=0)}
evaluation = evaluate(model, items, conditions, max_new_tokens=MAX_NEW_TOKENS, batch_size=len(items))
print(evaluation.table())

# %% [markdown]
# ### Reading the table
#
# Per condition: accuracy (pass@1; with `n_samples > 1` also maj@k), mean thinking length in
# tokens (tokens before `</think>`; the whole generation when it never closes), and reasoning words
# per 100 thinking tokens. Each is averaged per problem first, then over problems. The `Δ` columns
# compare with the baseline on the **same problems**: the paired bootstrap resamples problems (both
# conditions together) 2000 times; the bracket is the 95 % percentile interval of the difference
# (accuracy in points) or of the relative change (%). Read them as:
#
# * an interval that excludes 0 says the change is larger than problem-to-problem noise at this
#   sample size; one that includes 0 says nothing either way;
# * intervals over 8 problems are wide and, for accuracy, coarse (steps of 12.5 points); they do
#   not cover the randomness of training or of the choice of problems;
# * compare a feature with its **matched random control**, not only with the baseline: on a model
#   this small a push of 2·f_max along many directions can break the arithmetic, so "accuracy
#   drops" alone says little about reasoning;
# * the same for the word ban: its reasoning-word rate is ~0 by construction (a word spelled with
#   other tokens can slip through), so read its accuracy and thinking length next to the
#   random-word row. The random bans here draw their words from the baseline's own thinking, which
#   for the organism's templated traces includes words it needs to do the arithmetic;
# * thinking length and word rate are measured on **finished** generations (closed thinking and a
#   parseable answer); `capped` is the share cut by the token budget and `gates` the protocol's
#   three checks (non-inferior accuracy, finish rate, no repetition; docs/evaluation.md).
#
# The numbers behind the table are in `evaluation.summary` (one row per condition, the CI bounds as
# columns `{metric}_diff_low` …) and `evaluation.records` (one row per generation).

# %%
summary = evaluation.summary.set_index("condition")
print(summary[["kind", "n_runs", "accuracy", "thinking_tokens", "word_rate", "finished"]].round(3).to_string())
records = evaluation.records
print(records[["condition", "run", "item_id", "extracted", "correct", "thinking_tokens", "reasoning_words",
               "word_rate", "finished"]].round(2).head(10).to_string())

# structural facts (not scientific ones): the baseline comes first and is complete, every condition saw
# every problem, the averaged controls ran once per control, and every CI brackets its estimate
assert evaluation.baseline == "baseline" and summary.index[0] == "baseline"
assert summary.loc["baseline", "finished"] == 1.0, "max_new_tokens should let every baseline trace finish"
assert (summary["n_problems"] == len(items)).all()
for name in controls:
    assert summary.loc[name, "n_runs"] == 2
assert summary.loc["random words", "n_runs"] == 3
assert len(records) == len(items) * int(summary[summary["kind"] != "control_feature"]["n_runs"].sum())
for name, row in summary.drop(index="baseline").iterrows():
    for metric in ("accuracy", "thinking_tokens", "word_rate"):
        low, diff, high = row[f"{metric}_diff_low"], row[f"{metric}_diff"], row[f"{metric}_diff_high"]
        if diff != diff:  # NaN: no finished generation to measure thinking length / word rate on
            continue
        assert low - 1e-9 <= diff <= high + 1e-9, (name, metric, low, diff, high)

# %% [markdown]
# Any two conditions can be compared directly (`result.compare(a, metric, baseline=b)`), e.g. the
# top feature against its own random control, and per-problem values are one call away:

# %%
# (thinking_tokens_all: every generation, finished or not; strongly steered ones may never finish)
print(f"#{top} vs its random control, thinking tokens (all generations):",
      evaluation.compare(f"#{top} γ=2", "thinking_tokens_all", baseline=f"random~#{top} γ=2"))
print(evaluation.per_problem("baseline", "thinking_tokens").head(4).to_dict())
banned = evaluation.conditions["random words"]["words"]
print("reasoning words banned:", evaluation.conditions["word ban"]["words"])
print("random ban 1 banned:   ", banned[0])

# %% [markdown]
# ### Saving and loading
#
# `result.save(dir)` writes a result folder: `summary.csv`/`.json`, `records.csv` (no text),
# `generations.jsonl` (the text and token ids of every generation), `items.jsonl`, `config.json`
# (settings and what every condition did: features, strengths, f_max, banned words, matched
# frequencies) and `table.txt`. `EvaluationResult.load(dir)` reads it back; `result.plot()` draws
# accuracy and thinking length against γ (with several strengths per feature).

# %%
with tempfile.TemporaryDirectory() as tmp:
    folder = evaluation.save(Path(tmp) / "eval")
    print(sorted(p.name for p in folder.iterdir()))
    reloaded = EvaluationResult.load(folder)
    assert reloaded.table() == evaluation.table() and len(reloaded.records) == len(records)

# %% [markdown]
# ### AIME-2024, MATH-500 and GPQA-Diamond files
#
# The paper's benchmarks are not shipped and nothing is downloaded: get the published files
# yourself (`Maxwell-Jia/AIME_2024`, `HuggingFaceH4/MATH-500`, `Idavidrein/gpqa` → `gpqa_diamond.csv`)
# and pass the path (`.json`, `.jsonl`, `.csv`, `.parquet` or a directory). The format is detected
# from the columns (force it with `format=`); every item gets the same schema: `question`, gold
# `answer`, `answer_type` (`integer`, `math` or `choice`; GPQA's options are shuffled with a fixed
# seed per item, so the gold letter is stable). With a chat template (R1-style models) the problem
# goes into the paper's lm-eval prompt; the answer is taken from the text after the last `</think>`:
# the last `\boxed{}`, else an `Answer:` line, LaTeX normalised before comparison.
#
# The source checkout has tiny files in these formats under `tests/fixtures/benchmarks/`; we load
# them and grade hand-written answers (an 8B model would write them; the organism only does
# arithmetic, so we generate nothing here).

# %%
def find_fixtures():
    """tests/fixtures/benchmarks of the source checkout (None when tl-reasoning was pip-installed)."""
    for folder in (Path.cwd().resolve(), *Path.cwd().resolve().parents):
        if (folder / "tests" / "fixtures" / "benchmarks").is_dir():
            return folder / "tests" / "fixtures" / "benchmarks"
    return None


fixtures = find_fixtures()
if fixtures is None:
    print("no source checkout here: skipping the benchmark files")
else:
    aime = load_eval_benchmark(fixtures / "aime_2024.jsonl")
    math500 = load_eval_benchmark(fixtures / "math500.jsonl")
    gpqa = load_eval_benchmark(fixtures / "gpqa_diamond.csv")
    for loaded in (aime, math500, gpqa):
        first = loaded[0]
        print(f"{first.benchmark:8s} {len(loaded)} items, {first.answer_type:7s} id {first.id}: "
              f"{first.question[:60]!r} -> gold {first.answer!r}")
    print("\nthe instruction a chat model gets as its user message:\n" + build_prompt(math500[0], chat=False))
    print("\n" + gpqa[0].question)
    answers = [
        (aime[0], "<think>7 times 13... wait, 91.</think>\nThe final answer is $\\boxed{91}$."),
        (math500[0], "<think>halve both</think>\nSo the answer is \\boxed{\\dfrac{1}{2}}."),
        (math500[2], "<think>(6-2)*180/6</think>\n\\boxed{120^{\\circ}}"),
        (gpqa[0], f"<think>The photon.</think>\nAnswer: {gpqa[0].answer}"),
        (gpqa[0], f"<think>Not sure.</think>\nAnswer: ({next(c for c in 'ABCD' if c != gpqa[0].answer)})"),
    ]
    for problem, text in answers:
        predicted, correct = grade(text, problem)
        print(f"{problem.benchmark:8s} gold {problem.answer!r:20} extracted {predicted!r:20} correct {correct}")
    assert [grade(text, problem)[1] for problem, text in answers] == [True, True, True, True, False]
    assert extract_answer("Answer: 1887", "integer") == "1887"  # the organism's format

# %% [markdown]
# With a real model, evaluation on such a file is the same call, e.g.
# `evaluate(model, load_eval_benchmark("~/data/math500.jsonl", limit=100), conditions, n_samples=4,
# max_new_tokens=8192)` (4 sampled answers per problem: maj@4 is reported too). Tutorial 05 runs the
# paper's full setting.
#
# ## 4. The same from the command line
#
# `tl-reasoning evaluate` runs baseline, steering, controls and the word ban in one command, prints
# the table and writes the result folder plus `steering_results.png`. f_max and activation
# frequencies come from the statistics written by `tl-reasoning score`:
#
# ```bash
# tl-reasoning score --model organism --sae organism --data organism:reasoning --max-docs 200 --out runs/score
# TOP=$(python -c "import pandas as p; print(','.join(map(str, p.read_csv('runs/score/scores.csv').feature[:2])))")
# tl-reasoning evaluate --features $TOP --strength 2 --controls random:2 --word-ban --word-ban-runs 3 \
#     --stats runs/score --limit 8 --max-new-tokens 320 --out runs/eval   # a budget like the one measured above
#
# # a benchmark file you downloaded, a real model and SAE, 4 samples per problem
# tl-reasoning evaluate --model deepseek-ai/DeepSeek-R1-Distill-Llama-8B --sae <release> --sae-id <id> \
#     --features 16778,4395 --strength 1,2 --benchmark ~/data/math500.jsonl --limit 100 --samples 4 \
#     --max-new-tokens 8192 --stats runs/score --controls random:3 --out runs/math500
# ```
#
# Other options: `--mode clamp|cap|ablate`, `--positions thinking|START:END`, `--f-max`, `--format`,
# `--vocab`, `--random-words-from CORPUS` (for the organism the random banned words are drawn from its
# reasoning corpus by default), `--n-boot`. `tl-reasoning evaluate --help` lists them all. Load the
# folder in Python with `EvaluationResult.load("runs/eval")`.
