"""Plugin hook specifications for tl-reasoning.

Every contribution (scorer, intervention, visualisation, named artifact) is made through a
``register`` callback, in the style of simonw/llm; the only decision hook is
:func:`tl_reasoning_backend`, which picks the adapter for a model object (first non-None answer
wins, the built-in answers last). Plugins are found through the entry-point group
``tl_reasoning``; tl-reasoning's own built-ins are registered through that same group.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT_NAME = "tl_reasoning"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# --------------------------------------------------------------------------------------- scoring
@hookspec
def tl_reasoning_register_scorers(register: Any) -> None:
    """Register feature scorers.

    Called once, the first time the scorer registry is used.

    :param register: ``register(name, fn, description="")``. ``fn(stats, **options)`` receives the
        one-pass :class:`~tl_reasoning.stats.FeatureStats` (per-feature sums and counts) and returns a
        1-D float tensor with one score per SAE feature (higher = more reasoning-specific).
    :return: nothing; contributions go through ``register``.

    Scorers run locally on aggregated statistics, never inside a model trace, so they need not be
    remote-safe. A name registered twice raises an error naming both plugins.
    """


# ---------------------------------------------------------------------------------- interventions
@hookspec
def tl_reasoning_register_interventions(register: Any) -> None:
    """Register activation interventions (steering rules).

    Called once, the first time the intervention registry is used.

    :param register: ``register(name, factory, description="")``. ``factory(weights, features,
        strength, f_max, **options)`` receives plain-tensor SAE weights
        (:class:`~tl_reasoning.sae_weights.SAEWeights`; steer along its ``directions``
        ``d_i = decode(e_i) − decode(0)``), feature indices, strengths and maximum activations (in
        ``sae.encode`` units), and returns an edit function ``edit(act, positions) -> act`` where ``act`` is
        ``[batch, seq, d_model]`` and ``positions`` the absolute token positions ``[seq]``.
    :return: nothing; contributions go through ``register``.

    **Remote-safe:** the returned edit function may run inside an nnsight trace on NDIF, so it must
    use plain torch on tensors it closes over (no sae-lens objects, no tl_reasoning imports at call
    time). A name registered twice raises an error naming both plugins.
    """


# --------------------------------------------------------------------------------- visualisations
@hookspec
def tl_reasoning_register_visualizations(register: Any) -> None:
    """Register visualisations (circuitsvis views, dashboards panels).

    Called once, the first time the visualisation registry is used.

    :param register: ``register(name, fn, description="")``. ``fn(**inputs)`` returns a
        :class:`~tl_reasoning.views.View` (self-contained HTML that also displays inline in Jupyter).
    :return: nothing; contributions go through ``register``.

    Visualisations run locally on data already computed, so they need not be remote-safe. A name
    registered twice raises an error naming both plugins.
    """


# ------------------------------------------------------------------------------------- explainers
@hookspec
def tl_reasoning_register_explainers(register: Any) -> None:
    """Register explainers: automatic interpretation of features (``tl-reasoning interpret``).

    Called once, the first time the explainer registry is used.

    :param register: ``register(name, factory, description="")``. ``factory(**options)`` returns an
        object with ``explain(evidence) -> Explanation | str | dict``: ``evidence`` is a
        :class:`~tl_reasoning.autointerp.FeatureEvidence` (top contexts with activations, logit-lens
        tokens, activation share per reasoning word, steered-vs-baseline generations at several
        strengths) and the answer a description (+ optional labels and confidence). Optional methods:
        ``check()`` (fail fast, e.g. an unreachable endpoint, before evidence is gathered),
        ``group(explanations, evidence) -> {feature: group}`` (behaviour clusters), ``usage`` (requests,
        tokens, cost: ``summary()``/``to_dict()``), ``describe()`` and ``close()``.
    :return: nothing; contributions go through ``register``.

    Explainers run locally on evidence already gathered, never inside a model trace, so they need not be
    remote-safe. A name registered twice raises an error naming both plugins.
    """


# ---------------------------------------------------------------------------------------- models
@hookspec
def tl_reasoning_register_artifacts(register: Any) -> None:
    """Register named artifacts: models, SAEs, corpora and benchmarks usable by name.

    Called once, the first time a name is looked up by ``load_model``, ``load_sae`` or
    ``load_corpus``.

    :param register: ``register(kind, name, loader, description="")`` with ``kind`` one of
        ``"model"``, ``"sae"``, ``"corpus"``, ``"benchmark"``. For a model, ``loader(backend=...,
        device=..., dtype=...)`` returns the native model object; for an SAE, ``loader(device=...,
        dtype=...)`` returns a sae-lens ``SAE``; for a corpus or benchmark, ``loader(split=...)`` returns
        an iterable of documents.
    :return: nothing; contributions go through ``register``.

    Loaders run locally, never inside a trace, so they need not be remote-safe. A (kind, name) registered twice raises an error naming both plugins.
    """


@hookspec(firstresult=True)
def tl_reasoning_backend(model: Any) -> Any:
    """Return the backend adapter for ``model``, or ``None`` if this plugin does not handle it.

    Called every time tl-reasoning needs to run a model object it was given (``backend_for``).
    Stops at the first non-None result; the built-in adapters (TransformerLens HookedTransformer,
    TransformerBridge, nnsight) answer last, so a plugin can take over any model type.

    :param model: the user's model object.
    :return: a :class:`~tl_reasoning.backends.base.Backend` or ``None``.

    The adapter runs locally and need not be remote-safe itself; code it places inside nnsight
    traces must be (plain torch), like the edit functions of interventions.
    """
