# %% [markdown]
# # Writing a plugin: a scorer, an intervention and a visualisation
#
# tl-reasoning finds its scorers, steering modes (interventions) and visualisations through
# [pluggy](https://pluggy.readthedocs.io) plugins; the built-in ReasonScore, `add`/`clamp`/`cap`/
# `ablate` and the circuitsvis views are registered exactly the way a third-party plugin is. This
# tutorial writes one of each inline, registers them for a block of code with
# `tl_reasoning.registered_plugin(...)`, uses them through the normal API, and ends with how to
# package them so that `pip install` is all a user needs. Reference: `docs/plugins.md`.
#
# Runs offline on the model organism in well under a minute on one CPU core.
# Run as a script (`python tutorials/04_writing_a_plugin.py`) or open with jupytext as a notebook.

# %%
import contextlib
import html
import tempfile
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
import torch

import tl_reasoning
from tl_reasoning.cli import main as tl_reasoning_cli  # the `tl-reasoning` console script
from tl_reasoning.interventions.common import check_features, coefficients
from tl_reasoning.plugins import plugin_report

torch.set_num_threads(1)  # the organism is tiny: one thread is fastest, and never oversubscribes a shared CPU

# %% [markdown]
# ## The statistics every scorer works from
#
# A scoring pass collects, per SAE feature, sums and counts of its activation on tokens inside
# reasoning-word windows, on all other tokens, and per word group (`FeatureStats`). Every scorer —
# ReasonScore and yours — is a function of these aggregates, so a new scorer needs no new pass over
# the model. We collect them once, as in the quickstart.

# %%
model = tl_reasoning.load_model("organism")
sae = tl_reasoning.load_sae("organism")
result = tl_reasoning.score_features(model, sae, "organism:reasoning", max_docs=64, batch_size=8, context_size=128)
stats = result.stats
print(f"{stats.n_features} features, {stats.tokens_seen} tokens, word groups: {', '.join(stats.words)}")

# %% [markdown]
# ## 1. A scorer
#
# Contract: `fn(stats) -> tensor [n_features]`, higher meaning "more of what this scorer measures".
# It runs locally on aggregates (no remote-safety concerns).
#
# Ours asks a question ReasonScore only answers implicitly: **how many of the reasoning words does a
# feature respond to?** `word_coverage` is the share of word groups (among those that occur in the
# corpus) on whose windows the feature's mean activation is at least twice its mean elsewhere.
# Near 1: a broad "reasoning" feature; near 1/|R|: a detector of one word, which a high
# ReasonScore can hide when that word is frequent. The score table calls a scorer with the
# statistics alone, so options need defaults (register `functools.partial(word_coverage, lift=3.0)`
# under another name for a variant).

# %%
def word_coverage(stats, lift: float = 2.0) -> torch.Tensor:
    """Share of occurring word groups whose window mean is >= ``lift`` x the feature's mean elsewhere."""
    occurring = stats.count_word > 0                                       # [W]
    floor = lift * stats.mean_other.double().clamp(min=1e-6)              # [F]
    above = stats.mean_word.double()[occurring] >= floor                  # [W_occurring, F]
    return above.double().mean(0) if bool(occurring.any()) else torch.zeros(stats.n_features, dtype=torch.float64)


# %% [markdown]
# ## 2. An intervention (a steering mode)
#
# Contract: a **factory** `factory(weights, features, strength, f_max, **options)` returning an
# **edit** `edit(act, positions) -> act`.
#
# * `weights` is a `tl_reasoning.SAEWeights`: cloned plain tensors of the chosen features only
#   (`W_enc[:, f]`, `b_enc[f]`, `W_dec[f]`, `b_dec`) and `directions` — `d_f = decode(e_f) − decode(0)`,
#   what one unit of the latent adds to the reconstruction. Steer along `directions`, not `W_dec`
#   (they differ for TopK SAEs with `rescale_acts_by_decoder_norm`, such as the organism's).
# * `act` is `[batch, seq, d_model]`; `positions` the absolute token positions `[seq]` of those
#   columns (during cached decoding, `seq` is 1 and `positions` says which token it is).
# * The edit must be **remote-safe**: it may run inside an nnsight trace on NDIF, so only torch
#   operations on tensors it closes over; no sae-lens objects, no imports when called.
#
# Ours, `add_decay`, is the paper's additive steering (Eq. 7) whose strength halves every
# `half_life` tokens: steer the start of a reasoning trace and let the model run freely later
# (constant steering over thousands of tokens can derail a generation). The strengths and the
# `f_max` broadcasting reuse `tl_reasoning.interventions.common`, as the built-ins do, so one
# strength per feature or one row of strengths per prompt both work.

# %%
def add_decay(weights, features, strength, f_max, half_life: float = 32.0):
    """x <- x + 0.5 ** (position / half_life) * sum_i strength_i * f_max_i * d_i."""
    check_features(weights, features)
    if not half_life > 0:
        raise ValueError(f"half_life must be > 0 tokens, got {half_life}")
    coeff = coefficients(strength, f_max, len(weights.features)).to(weights.directions.dtype)
    vectors = (coeff @ weights.directions).contiguous()  # [d_model], or [batch, d_model] for per-prompt strengths

    def edit(act: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        vec = vectors.to(device=act.device, dtype=act.dtype)
        vec = vec[:, None, :] if vec.ndim == 2 else vec[None, None, :]
        decay = torch.pow(0.5, positions.to(device=act.device, dtype=act.dtype) / half_life)  # [seq]
        return act + decay[None, :, None] * vec

    return edit


# %% [markdown]
# ## 3. A visualisation
#
# Contract: `fn(**inputs) -> tl_reasoning.View`: self-contained HTML (it opens offline and displays
# inline in Jupyter) plus the numbers it shows in `view.data`, so tests and later code can use them.
#
# Ours, `word_profile`, draws a feature × word-group table of mean window activations, each row
# shaded relative to its maximum, with the mean on other tokens for comparison: the first thing
# to look at when a feature's scores disagree.

# %%
def word_profile(stats, features, title: str = "Mean activation per reasoning word"):
    """Feature x word-group table of mean window activations (row-normalised shading)."""
    from tl_reasoning import View

    feats = [int(f) for f in features]
    means = stats.mean_word.double()[:, feats].T          # [k, W]
    other = stats.mean_other.double()[feats]              # [k]
    head = "".join(f"<th>{html.escape(w)}</th>" for w in stats.words)
    rows = []
    for f, row, rest in zip(feats, means.tolist(), other.tolist(), strict=True):
        top = max(row + [1e-12])
        cells = "".join(f"<td style='background: rgba(217, 83, 79, {v / top:.2f})'>{v:.2f}</td>" for v in row)
        rows.append(f"<tr><th>{f}</th>{cells}<td>{rest:.3f}</td></tr>")
    table = (f"<table class='tlr-table'><tr><th>feature</th>{head}<th>other tokens</th></tr>"
             f"{''.join(rows)}</table>")
    return View([table], title, {"features": feats, "words": list(stats.words), "mean_word": means.tolist(),
                                 "mean_other": other.tolist()})


# %% [markdown]
# ## Registering them
#
# A plugin is any module or object with functions marked `@tl_reasoning.hookimpl` and named after
# the hooks (`tl_reasoning_register_scorers`, `..._interventions`, `..._visualizations`, ...). Each
# registration hook receives a `register(name, fn, description)` callback. In a session or a test,
# `registered_plugin(...)` adds the plugin for a block and removes it afterwards, whatever happens.
# Installed plugins are found through entry points instead (last section).

# %%
class TutorialPlugin:
    """The three contributions above, as one plugin."""

    @tl_reasoning.hookimpl
    def tl_reasoning_register_scorers(self, register):
        register("word_coverage", word_coverage, "share of reasoning words whose windows lift the feature 2x")

    @tl_reasoning.hookimpl
    def tl_reasoning_register_interventions(self, register):
        register("add_decay", add_decay, "additive steering whose strength halves every half_life tokens")

    @tl_reasoning.hookimpl
    def tl_reasoning_register_visualizations(self, register):
        register("word_profile", word_profile, "feature x reasoning-word table of mean window activations")


# In a script or test: `with tl_reasoning.registered_plugin(TutorialPlugin()): ...`. A notebook's work spans
# cells, so we enter the block on an ExitStack and close it at the end.
session = contextlib.ExitStack()
session.enter_context(tl_reasoning.registered_plugin(TutorialPlugin(), name="tutorial_plugin"))

# %% [markdown]
# `plugin_report()` (and `tl-reasoning plugins` on the command line, which prints the same report)
# lists every plugin, where it comes from and what it registered. Check it first when a name is
# "unknown": a plugin that failed to import or to register is listed with its error.

# %%
infos, failures = plugin_report()
for info in infos:
    if not info.builtin:
        print(f"{info.name} [{info.distribution}]: {info.registered}")
print("failed plugins:", failures or "none")
tl_reasoning_cli(["plugins"])  # in this process, so the in-process plugin shows up too

# %% [markdown]
# ## Using the scorer
#
# Registered scorers are selected by name as `controls`: extra columns of the score table, next to
# ReasonScore. `score_stats` recomputes the table from the statistics we already have (no model
# pass); `score_features(..., controls=[...])` does the same in one call with a fresh pass.
#
# What a researcher looks at: features with a high ReasonScore but a low coverage respond to one
# or two words only — candidates to drop, or to inspect before steering them.

# %%
controls = ("word_concentration", "word_coverage")
scored = tl_reasoning.score_stats(stats, controls=controls)
table = scored.table
print(table.head(8)[["feature", "reason_score", "word_concentration", "word_coverage", "top_word"]])
active = table[table["mean_reasoning"] > 0]
rho = active["reason_score"].rank().corr(active["word_coverage"].rank())
print(f"Spearman correlation of ReasonScore and word coverage over {len(active)} window-active features: {rho:.2f}")
narrow = table.head(20).sort_values("word_coverage").head(3)
print("top-20 ReasonScore features with the narrowest word coverage:", narrow["feature"].tolist())

# %% [markdown]
# ## Using the intervention
#
# A registered intervention is a steering **mode**: `feature_steering(..., mode="add_decay")`,
# `steer(model, sae, features=..., mode="add_decay")`, and, once the plugin is installed,
# `tl-reasoning steer --mode add_decay`. Extra keyword arguments go to the factory (`half_life` here).
#
# Test an intervention against a case you know: with an infinite half-life `add_decay` must be the
# built-in `add`, exactly. Then sweep the half-life. Positions count from the first prompt token
# (BOS = 0), so a short half-life is mostly spent on the prompt. What to look at: the first generated
# token where the steered text leaves the baseline (if it does), and whether the text recovers.

# %%
top = scored.selected[0] if scored.selected else int(table.iloc[0]["feature"])
f_max = tl_reasoning.f_max_from_stats(stats, [top])
prompt = tl_reasoning.load_benchmark("organism")[0]["prompt"]


def steered(mode, **options):
    steering = tl_reasoning.feature_steering(sae, [top], strength=2.0, f_max=f_max, mode=mode, **options)
    return tl_reasoning.generate(model, [prompt], 48, steering)[0]


def first_difference(a, b):
    return next((i for i, (x, y) in enumerate(zip(a.tokens, b.tokens, strict=False)) if x != y), None)


add = steered("add")
assert steered("add_decay", half_life=float("inf")).tokens == add.tokens, "an infinite half-life must equal add"
baseline = tl_reasoning.generate(model, [prompt], 48)[0]
print(f"feature {top}, strength 2, f_max {float(f_max[0]):.2f}")
runs = [("baseline", baseline)] + [(f"add_decay, half_life {h:g}", steered("add_decay", half_life=h)) for h in (8, 32)]
for label, g in [*runs, ("add (no decay)", add)]:
    print(f"{label:24s} {g.text[:90]!r} | first differing token: {first_difference(g, baseline)}")

# %% [markdown]
# Remote safety is checkable offline: run the same steering on the nnsight backend through
# nnsight's local simulation of a remote request (`remote="local"`; tutorial 03). The edit is
# serialised with the request and must give the tokens of the local run.

# %%
nn_model = tl_reasoning.load_model("organism", backend="nnsight")
decay_steering = tl_reasoning.feature_steering(sae, [top], strength=2.0, f_max=f_max, mode="add_decay", half_life=8.0)
local_tokens = tl_reasoning.generate(nn_model, [prompt], 24, decay_steering)[0].tokens
remote_tokens = tl_reasoning.generate(nn_model, [prompt], 24, decay_steering, remote="local")[0].tokens
print("add_decay through a simulated remote request gives the local tokens:", remote_tokens == local_tokens)
assert remote_tokens == local_tokens

# %% [markdown]
# ## Using the visualisation
#
# Visualisations are looked up in the `visualization` registry by name and called with keyword
# inputs; the built-ins (`top_contexts`, `logit_lens`, `steering_comparison`, ...) work the same way.

# %%
views = tl_reasoning.get_registry("visualization")
print("registered visualisations:", ", ".join(views.names()))
features = list(dict.fromkeys([top, *narrow["feature"].tolist()]))  # the steered feature and the narrow ones
view = views.get("word_profile").obj(stats=stats, features=features)
out = Path(tempfile.mkdtemp(prefix="tl-reasoning-tutorial-")) / "word_profile.html"
view.save(out)
print(view, "->", out, f"({out.stat().st_size} bytes)")
print("rows:", view.data["features"], "| words:", len(view.data["words"]))

# %% [markdown]
# ## Failures stay contained
#
# Names are unique per kind. A plugin that registers a name another plugin owns is rejected, its
# registrations are rolled back, and it shows up under "failed plugins"; everything else keeps
# working. (A plugin that fails to import is handled the same way.)

# %%
class ClashingPlugin:
    @tl_reasoning.hookimpl
    def tl_reasoning_register_scorers(self, register):
        register("reason_score", word_coverage)


with tl_reasoning.registered_plugin(ClashingPlugin(), name="clashing_plugin"):
    scorers = tl_reasoning.get_registry("scorer")
    print("reason_score still comes from:", scorers.get("reason_score").plugin)
    for failure in plugin_report()[1]:
        print(f"failed: {failure.name} at {failure.stage}: {failure.error[:110]}...")

session.close()  # unregisters tutorial_plugin
print("after the block, word_coverage registered:", "word_coverage" in tl_reasoning.get_registry("scorer"))

# %% [markdown]
# ## Packaging the plugin
#
# To share the plugin, put the functions and the `@hookimpl` hooks in a module (module-level
# functions: no class needed) and publish it under the **`tl_reasoning`** entry-point group:
#
# ```toml
# # pyproject.toml
# [build-system]
# requires = ["setuptools>=68"]
# build-backend = "setuptools.build_meta"
#
# [project]
# name = "tl-reasoning-word-coverage"
# version = "0.1.0"
# dependencies = ["tl-reasoning", "torch"]
#
# [project.entry-points.tl_reasoning]
# word_coverage = "tl_reasoning_word_coverage"   # the module holding the @hookimpl functions
#
# [tool.setuptools]
# py-modules = ["tl_reasoning_word_coverage"]
# ```
#
# After `pip install -e .`, every tl-reasoning session and the CLI find it on first use
# (`tl-reasoning plugins` lists it with its distribution and version); `TL_REASONING_LOAD_PLUGINS`
# (allowlist) and `TL_REASONING_BLOCK_PLUGINS` (blocklist) control what is loaded.
#
# A complete, tested example package is `plugins/tl-reasoning-contrast-scorers/` (two contrast
# scorers, its own `pyproject.toml` and tests). Test a plugin in-process with
# `registered_plugin(...)` as above, and once as an installed distribution by checking
# `plugin_report()`. Hook reference and rules: `docs/plugins.md`.

# %%
installed = [i for i in plugin_report()[0] if not i.builtin]
print("installed third-party plugins in this environment:",
      ", ".join(f"{i.name} ({i.distribution} {i.version})" for i in installed) or "none")
