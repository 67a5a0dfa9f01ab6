# %% [markdown]
# # nnsight sessions and remote execution (NDIF)
#
# The quickstart worked in a TransformerLens session. This tutorial does the same scoring and
# steering on an **nnsight** model, then shows the two things nnsight adds:
#
# 1. **your own traces**: tl-reasoning's pieces (an SAE encoder, a steering edit) used inside a
#    `with model.trace(...)` block you write yourself;
# 2. **remote execution**: the model runs on [NDIF](https://nnsight.net) (or any server speaking
#    nnsight's remote protocol) while the SAE, the vocabulary and the statistics stay on your machine.
#
# Everything runs offline on the shipped model organism in well under a minute on one CPU core:
# the remote code path is exercised with nnsight's local simulation (`remote="local"`) and, in a
# source checkout, with the loopback server the test suite uses. The real-NDIF call is shown in a
# cell that only runs when `NDIF_API_KEY` is set. Background: `docs/remote.md`.
#
# Run as a script (`python tutorials/03_nnsight_and_remote.py`) or open with jupytext as a notebook.

# %%
import os
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
import torch
from nnsight import CONFIG

import tl_reasoning
from tl_reasoning.remote import EncoderWeights, RemoteAuthError, RemoteTarget, choose_mode, encode_dense

torch.set_num_threads(1)  # the organism is tiny: one thread is fastest, and never oversubscribes a shared CPU
CONFIG.APP.REMOTE_LOGGING = False  # nnsight prints a status line per remote job; keep the output readable

# %% [markdown]
# ## Load the organism on the nnsight backend
#
# `backend="nnsight"` returns an `nnsight.TransformersModel` wrapping the Hugging Face model. The
# SAE is the same sae-lens object as before. tl-reasoning names sites the TransformerLens way
# (`blocks.2.hook_resid_post`); on nnsight that site is the output of decoder layer 2,
# `model.model.layers[2].output`, so one SAE, one statistics file and one steering configuration
# work on every backend.

# %%
model = tl_reasoning.load_model("organism", backend="nnsight")
sae = tl_reasoning.load_sae("organism")
site = tl_reasoning.Site.parse(tl_reasoning.check_sae_compatible(model, sae))
print(type(model).__name__, "| SAE site:", site.name, f"= model.model.layers[{site.layer}].output |",
      sae.cfg.d_sae, "features")

# %% [markdown]
# ## Score and steer: the same calls as in a TransformerLens session
#
# `score_features` runs one pass over reasoning traces and scores every feature by ReasonScore.
# We keep the pass small (64 documents of at most 128 tokens) so that the later remote runs, which
# repeat it, stay quick. The feature we steer is picked from the result at run time: never
# hard-code feature ids of a model you may retrain.

# %%
SCORING = dict(max_docs=64, batch_size=8, context_size=128)
local = tl_reasoning.score_features(model, sae, "organism:reasoning", **SCORING)
print(local.table.head(5)[["feature", "reason_score", "mean_reasoning", "mean_other", "entropy", "top_word"]])
top = local.selected[0] if local.selected else int(local.table.iloc[0]["feature"])
f_max = tl_reasoning.f_max_from_stats(local.stats, [top])
print(f"steering feature {top}: f_max = {float(f_max[0]):.2f}, "
      f"{len(local.selected)} features above the {local.quantile} quantile")

# %% [markdown]
# `feature_steering` builds the paper's additive intervention (Eq. 7, x ← x + γ·f_max·d_i)
# as a `Steering`: a site plus a plain-torch edit function. `generate` installs it for one call.
# On the small organism γ = 2 can overwhelm a generation; what matters in this tutorial is that every
# execution path below (your own trace, the simulated and the wire-level remote) reproduces these
# tokens exactly.

# %%
prompts = [item["prompt"] for item in tl_reasoning.load_benchmark("organism")[:2]]
steering = tl_reasoning.feature_steering(sae, [top], strength=2.0, f_max=f_max)
baseline = tl_reasoning.generate(model, prompts, 40)
steered = tl_reasoning.generate(model, prompts, 40, steering)
print("baseline:", baseline[0].text[:160].replace("\n", " | "))
print("steered: ", steered[0].text[:160].replace("\n", " | "))

# %% [markdown]
# ## Inside your own nnsight trace
#
# nnsight users write their own traces. tl-reasoning gives you the pieces that are safe to put
# inside one:
#
# * **reading features**: locally you may call `sae.encode(...)` on a layer output inside the
#   trace. For a trace that may run remotely, use `EncoderWeights.from_sae(sae)` and
#   `encode_dense(enc, x)`: the encoder as plain tensors plus a pure-torch function (a sae-lens
#   object cannot be shipped to a server, see below);
# * **steering**: `steering.edit(act, positions)` is a plain function of the activations and
#   their absolute token positions; assign its result to the layer output.
#
# Tokenise with the model's backend (`tl_reasoning.backend_for(model).tokenize`) so the trace
# sees exactly the tokens tl-reasoning's own passes see (BOS once, same padding).
#
# First, where does the steered feature fire on a reasoning trace? A high ReasonScore says it is
# more active near reasoning words than elsewhere; reading the tokens it fires on most says what it
# actually responds to (the reasoning words themselves, the steps they introduce, or something else).

# %%
backend = tl_reasoning.backend_for(model)
doc = next(iter(tl_reasoning.load_corpus("organism:reasoning")))["text"]
ids = backend.tokenize([doc], max_length=96).input_ids
enc = EncoderWeights.from_sae(sae)

with torch.no_grad(), model.trace(ids):
    resid = model.model.layers[site.layer].output
    acts_sae = sae.encode(resid[0])[:, top].save()           # fine locally
    acts_plain = encode_dense(enc, resid[0])[:, top].save()  # also fine remotely

assert torch.allclose(acts_sae, acts_plain, atol=1e-5)
tokens = backend.to_str_tokens(ids[0])
strongest = acts_plain.topk(5).indices.sort().values.tolist()
print(f"feature {top} is active on {int((acts_plain > 0).sum())} of {len(tokens)} tokens; strongest on:")
for i in strongest:
    context = "".join(tokens[max(0, i - 4):i]) + "[[" + tokens[i] + "]]" + "".join(tokens[i + 1:i + 3])
    print(f"  {float(acts_plain[i]):6.2f}  {context!r}")

# %% [markdown]
# Now steer inside your own trace. `steer(model, ...)` on an nnsight model applies to the traces
# tl-reasoning opens (`generate`, scoring, `backend.forward`); a trace **you** open is yours, so
# you apply the edit yourself. We check that both give the same logits, and that a plain trace
# inside `with steer(...)` is indeed unsteered.

# %%
prompt_ids = backend.tokenize(prompts[:1]).input_ids


def my_steered_logits(**trace_kwargs):
    """Logits of a trace we write ourselves, with the steering edit applied at the SAE's layer."""
    with torch.no_grad(), model.trace(prompt_ids, **trace_kwargs):
        layer = model.model.layers[site.layer]
        act = layer.output
        layer.output = steering.edit(act, torch.arange(act.shape[1]))
        logits = model.lm_head.output.save()
    return logits


mine = my_steered_logits()
with tl_reasoning.steer(model, steerings=[steering]):
    theirs = backend.forward(prompt_ids)                     # a tl-reasoning pass: steered
    with torch.no_grad(), model.trace(prompt_ids):           # your own trace: not touched by steer()
        plain = model.lm_head.output.save()
print("own trace == tl-reasoning's steered forward:", torch.equal(mine, theirs))
print("own trace inside steer() left unsteered:    ", not torch.allclose(plain, theirs))
assert torch.equal(mine, theirs) and not torch.allclose(plain, theirs)

# %% [markdown]
# ## Remote execution
#
# On NDIF the model's weights live on the server; your machine holds only its config and tokenizer
# (nnsight builds the model on the meta device). A trace with `remote=...` is serialised (its code
# and the values it reads), executed on the server, and only the `.save()`d values come back.
#
# tl-reasoning's scoring and generation accept the same `remote=` argument:
#
# | `remote=` | runs on | API key |
# |---|---|---|
# | `True` | NDIF (`https://api.ndif.us`, or `NDIF_HOST`) | `NDIF_API_KEY`, or `nnsight login` once |
# | `"local"` | nnsight's local simulation: serialised and deserialised like a real request, run in-process | none |
# | `"http(s)://host"` | that server | optional |
# | `RemoteTarget(host, api_key, model_key, timeout)` | full control | explicit |
#
# Keep the key out of code and notebooks: set `NDIF_API_KEY` in the environment (tl-reasoning
# replaces it by `***` in every error message). `model_key` names the model on the server; for a
# Hub model nnsight derives it, for a local directory or the organism you pass it.
#
# **What travels.** Never a sae-lens object: scoring ships the encoder as plain tensors
# (`EncoderWeights`) or downloads residuals and encodes locally; steering ships only the columns of
# the steered features inside plain-torch closures. Two scoring modes:
#
# * `residuals`: the server runs the model up to the SAE's layer and returns the counted residuals;
#   the SAE encodes locally. Works with any SAE; moves `tokens × d_model` values.
# * `server`: the encoder ships once per request; the server encodes and accumulates the
#   statistics and only those aggregates come back. Moves `d_model × d_sae` values.
#
# `remote_mode="auto"` picks the cheaper by bytes moved; `choose_mode` shows the decision.

# %%
cases = [("organism, 4 batches of 8 x 128 tokens", 4 * 8 * 128, int(sae.cfg.d_in), int(sae.cfg.d_sae)),
         ("Llama-8B + 65k SAE, 1 batch of 8 x 1024", 8 * 1024, 4096, 65_536),
         ("Llama-8B + 65k SAE, 16 batches", 16 * 8 * 1024, 4096, 65_536)]
for label, tokens_per_request, d_in, d_sae in cases:
    choice = choose_mode(tokens_per_request, d_in, d_sae, bytes_per_value=2)  # bf16 transfers
    print(f"{label:40s} residuals down {choice.download_residuals / 2**20:8.1f} MiB | "
          f"encoder up {choice.upload_encoder / 2**20:6.1f} MiB -> {choice.mode}")

# %% [markdown]
# For the organism the encoder is tiny and `auto` ships it. For an 8B model with a 65k-feature SAE the
# encoder is 512 MiB in bf16: cheaper than the residuals of more than ~8 batches, but above the
# default upload cap of 256 MiB (a cautious guess at what one request may carry), so `auto` keeps
# downloading residuals. Pass `remote_mode="server"` when you know your requests are large
# (`docs/remote.md` has the numbers).

# %% [markdown]
# ### The remote code path, simulated locally
#
# `remote="local"` serialises each request exactly as for NDIF (the code of the trace, the SAE
# tensors, the token indicators) and runs it in-process. It catches everything that would not
# survive the trip (a sae-lens object in a trace, local state the server cannot see), without a
# network. Scoring in both modes must give the statistics of the local run.

# %%
def max_relative_difference(a, b):
    fields = ("sum_window", "sum_other", "sum_word", "sumsq_window", "sumsq_other", "max_activation")
    return max(float((getattr(a, f) - getattr(b, f)).abs().max() / getattr(b, f).abs().max()) for f in fields)


for mode in ("residuals", "server"):
    sim = tl_reasoning.score_features(model, sae, "organism:reasoning", **SCORING, remote="local",
                                      remote_mode=mode, remote_batches=4)
    rel = max_relative_difference(sim.stats, local.stats)
    same_top = list(sim.table["feature"][:10]) == list(local.table["feature"][:10])
    print(f"remote='local', mode={mode:9s}: {sim.stats.meta['run_remote']['target']}, "
          f"max relative difference {rel:.1e}, same top-10 ranking: {same_top}")
    assert rel <= 1e-5 and same_top and torch.equal(sim.stats.count_window, local.stats.count_window)

# %% [markdown]
# Steered generation ships one `generate` trace with the edits applied per decoding step, so the
# tokens must be identical to the local run; so must your own trace.

# %%
sim_steered = tl_reasoning.generate(model, prompts, 40, steering, remote="local")
print("remote='local' steered tokens identical:", [g.tokens for g in sim_steered] == [g.tokens for g in steered])
assert [g.tokens for g in sim_steered] == [g.tokens for g in steered]

remote_mine = my_steered_logits(remote="local")  # nnsight's own argument; remote=True sends it to NDIF
print("own trace, remote='local', identical logits:", torch.equal(remote_mine, mine))
assert torch.equal(remote_mine, mine)

# %% [markdown]
# ### Over the wire: the loopback server
#
# The local simulation does not open a socket. In a source checkout, `tests/remote_server/` holds
# a small server speaking nnsight 0.8's remote protocol (websocket `/subscribe`, multipart
# `POST /request`, status frames, results) that runs its own copy of the organism in a separate
# process: the unmodified nnsight client talks to it as it would to NDIF. We start it on
# 127.0.0.1, point a `RemoteTarget` at it, and run scoring, steering and our own trace through it.
# The organism is not a Hub model, so we pass its model key, `tl_reasoning:organism`.

# %%
def find_checkout():
    """The source checkout holding tests/remote_server (None when tl-reasoning was pip-installed)."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "tests" / "remote_server" / "server.py").is_file():
            return folder
    return None


checkout = find_checkout()
if checkout is None:
    print("no source checkout here: skipping the loopback server (remote='local' above ran the same code)")
else:
    sys.path.insert(0, str(checkout))
    from tests.remote_server.fixture import loopback_server

    key = "tutorial-key-0123456789"  # the loopback server's key; for NDIF it comes from NDIF_API_KEY
    with loopback_server(api_key=key) as server:
        wire = RemoteTarget(server.url, key, model_key="tl_reasoning:organism", timeout=60)
        print("loopback server at", server.url)
        over = tl_reasoning.score_features(model, sae, "organism:reasoning", **SCORING, remote=wire,
                                           remote_mode="server", remote_batches=4)
        rel = max_relative_difference(over.stats, local.stats)
        print(f"scoring over the wire: max relative difference {rel:.1e}")
        wire_steered = tl_reasoning.generate(model, prompts, 40, steering, remote=wire)
        print("steered tokens identical:", [g.tokens for g in wire_steered] == [g.tokens for g in steered])
        with wire.running():
            wire_mine = my_steered_logits(**wire.trace_kwargs(model))
        print("own trace identical:", torch.equal(wire_mine, mine))
        assert rel <= 1e-5 and [g.tokens for g in wire_steered] == [g.tokens for g in steered]
        assert torch.equal(wire_mine, mine)

        # a wrong key is refused with a clear error that never shows the key
        wrong = "not-the-key-9876543210"
        try:
            tl_reasoning.generate(model, prompts[:1], 4, remote=RemoteTarget(server.url, wrong,
                                                                               "tl_reasoning:organism", 30))
        except RemoteAuthError as err:
            print("refused:", type(err).__name__, "| key shown in message:", wrong in str(err))
        else:
            raise AssertionError("the server accepted a wrong key")

# %% [markdown]
# ### On NDIF
#
# With an NDIF key (https://login.ndif.us) the same calls run on NDIF's GPUs. The model must be one
# NDIF hosts (`nnsight.status()` lists them; Llama-3.1-8B has been) and the SAE one made for it;
# only the model's config and tokenizer are downloaded, never its weights (gated repos need
# Hugging Face access). This cell runs only when `NDIF_API_KEY` is set.
#
# What to look at on a real run: `result.stats.meta["run_remote"]` (mode, bytes moved per request),
# and the time per request; keep `remote_batches` small enough that a request stays well under
# NDIF's job time limit, and pass `checkpoint=` so an interrupted run resumes.

# %%
if os.environ.get("NDIF_API_KEY"):
    from nnsight import LanguageModel

    llama = LanguageModel("meta-llama/Llama-3.1-8B")  # meta device: config and tokenizer only
    llama_sae = tl_reasoning.load_sae("llama_scope_lxr_8x", sae_id="l15r_8x")  # downloads the SAE (~1 GB)
    texts = [d["text"] for d, _ in zip(tl_reasoning.load_corpus("organism:reasoning"), range(16), strict=False)]
    ndif = tl_reasoning.score_features(llama, llama_sae, texts, context_size=256, remote=True,
                                       remote_dtype="bfloat16", remote_batches=2)
    print(ndif.stats.meta["run_remote"])
    print(ndif.table.head(5)[["feature", "reason_score", "top_word"]])
    feature = ndif.selected[0] if ndif.selected else int(ndif.table.iloc[0]["feature"])
    ndif_steering = tl_reasoning.feature_steering(llama_sae, [feature], strength=2.0, stats=ndif.stats)
    for g in tl_reasoning.generate(llama, ["Solve 17 * 23. Let me think."], 48, ndif_steering, remote=True):
        print(g.text)
else:
    print("NDIF_API_KEY is not set: skipping the real NDIF run")
