# %% [markdown]
# # Quickstart: reasoning features of the model organism in a TransformerLens session
#
# Runs offline on the shipped organism in under a minute on a laptop CPU:
# load the model and its SAE, score every SAE feature by ReasonScore in one pass, look at the top
# feature's contexts, and steer it during generation.
# Run as a script (`python tutorials/01_quickstart.py`) or open with jupytext as a notebook.

# %%
import warnings

warnings.filterwarnings("ignore")
import tl_reasoning

model = tl_reasoning.load_model("organism")          # a TransformerLens HookedTransformer
sae = tl_reasoning.load_sae("organism")              # sae-lens TopK SAE on blocks.2.hook_resid_post
site = tl_reasoning.check_sae_compatible(model, sae)
print(type(model).__name__, site, sae.cfg.d_sae, "features")

# %% [markdown]
# ## Score every feature in one pass over reasoning traces

# %%
result = tl_reasoning.score_features(model, sae, "organism:reasoning", max_docs=200, progress=False)
print(result.table.head(8)[["feature", "reason_score", "mean_reasoning", "mean_other", "entropy", "top_word"]])
top = int(result.table.iloc[0]["feature"])

# %% [markdown]
# ## Steer the top feature (paper Eq. 7, γ = 2) and compare with the unsteered generation

# %%
prompt = tl_reasoning.load_benchmark("organism")[0]["prompt"]
f_max = tl_reasoning.f_max_from_stats(result.stats, [top])
baseline = tl_reasoning.generate(model, [prompt], max_new_tokens=80)[0]
with tl_reasoning.steer(model, sae, features=[top], strength=2.0, f_max=f_max):
    steered = tl_reasoning.generate(model, [prompt], max_new_tokens=80)[0]
print("baseline:", baseline.text[:300])
print("steered: ", steered.text[:300])
assert baseline.tokens != steered.tokens, "steering the top feature should change the generation"
