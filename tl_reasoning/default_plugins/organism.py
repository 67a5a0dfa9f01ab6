"""The model organism's artifacts, registered by name like any plugin's.

Models ``organism`` and ``organism-base`` (HookedTransformer by default on TransformerLens 3: exact,
fast hooks; TransformerBridge on TransformerLens 4, which has no HookedTransformer; any backend on request), their SAEs, the corpora ``organism:reasoning`` / ``organism:plain`` and the
``organism`` benchmark.
"""

from __future__ import annotations

from typing import Any

from tl_reasoning.hookspecs import hookimpl


def _model_loader(name: str) -> Any:
    def load(backend: str | None = None, device: Any = None, dtype: Any = None) -> Any:
        from tl_reasoning.loading.models import default_local_backend, load_hf_dir, resolve_dtype
        from tl_reasoning.organism import model_dir

        path = model_dir(name)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"the {name} artifacts are missing at {path}; rebuild them with "
                                    "python -m tl_reasoning.organism.train --out <dir>")
        return load_hf_dir(path, backend=backend or default_local_backend(), device=device, dtype=resolve_dtype(dtype))

    return load


def _sae_loader(name: str) -> Any:
    def load(device: Any = None, dtype: Any = None) -> Any:
        from tl_reasoning.loading.models import resolve_dtype
        from tl_reasoning.loading.saes import load_sae_dir
        from tl_reasoning.organism import sae_dir

        return load_sae_dir(sae_dir(name), str(device or "cpu"), resolve_dtype(dtype))

    return load


def _relu_sae_loader(device: Any = None, dtype: Any = None) -> Any:
    from tl_reasoning.loading.models import resolve_dtype
    from tl_reasoning.loading.saes import load_sae_dir
    from tl_reasoning.organism import relu_sae_dir

    return load_sae_dir(relu_sae_dir(), str(device or "cpu"), resolve_dtype(dtype))


def _stage_sae_loader(stage: str) -> Any:
    def load(device: Any = None, dtype: Any = None) -> Any:
        from tl_reasoning.loading.models import resolve_dtype
        from tl_reasoning.loading.saes import load_sae_dir
        from tl_reasoning.organism.stages import stage_dir

        return load_sae_dir(stage_dir(stage), str(device or "cpu"), resolve_dtype(dtype))

    return load


def _corpus_loader(corpus: str, default_split: str) -> Any:
    def load(split: str | None = None) -> Any:
        from tl_reasoning.organism.data import load_split

        return load_split(corpus, split or default_split)

    return load


@hookimpl
def tl_reasoning_register_artifacts(register: Any) -> None:
    for name in ("organism", "organism-base"):
        register("model", name, _model_loader(name), f"the {name} model (tiny Llama, shipped)")
        register("sae", name, _sae_loader(name), f"SAE on the residual stream of {name}")
    from tl_reasoning.organism import relu_sae_dir

    if (relu_sae_dir() / "cfg.json").is_file():  # organism v3: the ReLU SAE, when shipped
        register("sae", "organism-relu", _relu_sae_loader, "ReLU SAE (the paper's architecture) on the residual "
                 "stream of organism")
    from tl_reasoning.organism.stages import STAGES, stage_dir

    for stage in STAGES:  # stage-wise diffing SAEs (python -m tl_reasoning.organism.stages), when shipped
        if (stage_dir(stage.name) / "cfg.json").is_file():
            origin = f"fine-tuned from {stage.parent}" if stage.parent else "from scratch"
            register("sae", f"organism-stage-{stage.name}", _stage_sae_loader(stage.name),
                     f"stage SAE {stage.name}: {stage.model} on {stage.data} data, {origin}")
    register("corpus", "organism:reasoning", _corpus_loader("reasoning", "heldout"),
             "R1-style reasoning traces of the organism world (train / heldout)")
    register("corpus", "organism:plain", _corpus_loader("plain", "heldout"),
             "plain text and direct answers of the organism world (train / heldout)")
    register("benchmark", "organism", _corpus_loader("benchmark", "test"), "held-out organism problems")
