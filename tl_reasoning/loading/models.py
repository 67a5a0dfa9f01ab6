"""``load_model``: a model by registered name, local Hugging Face directory or Hub id, on a backend.

Backends: ``"bridge"`` (TransformerLens 3 ``TransformerBridge``, the default for Hugging Face
models), ``"hooked"`` (``HookedTransformer``) and ``"nnsight"`` (``nnsight.TransformersModel``).
Registered names (``organism``, ``organism-base``, plugins' models) choose their own default.
The native model object is returned: use it as you would anyway, and pass it to tl-reasoning.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from tl_reasoning.loading.hub import fetch_or_explain

__all__ = ["BACKENDS", "check_device", "default_local_backend", "load_model", "normalize_backend", "resolve_dtype",
           "transformer_lens_major"]

BACKENDS: tuple[str, ...] = ("bridge", "hooked", "nnsight")
_ALIASES = {
    "transformerbridge": "bridge", "transformer_bridge": "bridge", "bridge": "bridge",
    "hooked": "hooked", "hookedtransformer": "hooked", "hooked_transformer": "hooked",
    "transformer_lens": "hooked", "tl": "hooked", "nnsight": "nnsight",
}
_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
           "bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float64": torch.float64}


def normalize_backend(backend: str | None) -> str | None:
    """Canonical backend name (``bridge``, ``hooked``, ``nnsight``) or ``None`` for the default."""
    if backend is None or backend == "auto":
        return None
    key = backend.strip().lower().replace("-", "_")
    if key not in _ALIASES:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)} (or 'auto')")
    return _ALIASES[key]


def transformer_lens_major() -> int:
    """Major version of the installed TransformerLens (4 removed ``HookedTransformer``)."""
    from importlib.metadata import version

    return int(version("transformer-lens").split(".")[0])


def default_local_backend() -> str:
    """The exact, fast backend for small local models: ``hooked`` on TransformerLens 3, ``bridge`` on 4."""
    return "hooked" if transformer_lens_major() < 4 else "bridge"


def _check_hooked_available() -> None:
    major = transformer_lens_major()
    if major >= 4:
        raise ValueError(
            f"backend 'hooked' needs HookedTransformer, which TransformerLens {major} removed; use backend='bridge' "
            "(TransformerBridge.boot_transformers(...), then enable_compatibility_mode() for HookedTransformer-style "
            "weight processing) or install transformer-lens<4"
        )


def check_device(device: str | torch.device | None) -> torch.device | None:
    """Parse ``device`` and check that this machine has it; ``ValueError`` naming the fix otherwise.

    ``None`` (the default: CPU) passes through. ``"cuda"`` without a usable GPU, ``"cuda:3"`` on a
    machine with fewer GPUs, ``"mps"`` off Apple silicon and unknown names are refused before
    anything loads.
    """
    if device is None:
        return None
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"unknown device {device!r}; use cpu, cuda, cuda:N or mps") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was asked for but this machine has no usable CUDA GPU (torch "
                             f"{torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); use --device cpu "
                             "(the default) or install a CUDA build of torch on a machine with a GPU")
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(f"device {device!r} does not exist: this machine has {count} CUDA GPU(s), "
                             f"cuda:0 to cuda:{count - 1}")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} was asked for but MPS (Apple silicon) is not available here; "
                         "use --device cpu")
    return parsed


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(sorted(_DTYPES))}") from None


def load_model(
    spec: str | os.PathLike[str],
    *,
    backend: str | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
) -> Any:
    """Load ``spec`` and return the native model object for ``backend``.

    ``spec`` is a registered name (``tl-reasoning plugins`` lists them; ``organism`` and
    ``organism-base`` are built in), a local directory written by ``save_pretrained``, or a Hugging
    Face Hub id. Offline, a Hub id that is not cached fails at once with a clear error.
    """
    from tl_reasoning.plugins import get_registry

    canonical = normalize_backend(backend)
    torch_dtype = resolve_dtype(dtype)
    check_device(device)
    spec_str = os.fspath(spec)
    registry = get_registry("model")
    if spec_str in registry:
        return registry.get(spec_str).obj(backend=canonical, device=device, dtype=torch_dtype)
    path = Path(spec_str).expanduser()
    if path.exists():
        return load_hf_dir(path, backend=canonical or "bridge", device=device, dtype=torch_dtype)
    if spec_str.count("/") != 1 or spec_str.startswith((".", "/", "~")):
        known = registry.known()
        raise FileNotFoundError(
            f"model {spec_str!r} is not a registered name ({known}), an existing directory, or a "
            "Hugging Face id of the form 'owner/name'"
        )
    return _load_hub(spec_str, backend=canonical or "bridge", device=device, dtype=torch_dtype)


def load_hf_dir(path: Path, *, backend: str, device: str | torch.device | None, dtype: torch.dtype) -> Any:
    """Load a local ``save_pretrained`` directory on ``backend``."""
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a Hugging Face model directory (no config.json)")
    from tl_reasoning.organism import quiet_artifact_loading

    with quiet_artifact_loading(path):  # the organism's own models load without transformers' weights bar
        return _load_hf_dir(path, backend=backend, device=device, dtype=dtype)


def _load_hf_dir(path: Path, *, backend: str, device: str | torch.device | None, dtype: torch.dtype) -> Any:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if backend == "hooked":
        _check_hooked_available()
        from tl_reasoning.loading.hooked import hooked_from_hf_dir

        return hooked_from_hf_dir(path, device=device, dtype=dtype, tokenizer=tokenizer)
    if backend == "bridge":
        from transformer_lens.model_bridge import TransformerBridge

        from tl_reasoning.backends.bridge_compat import repair_bridge_kv_cache

        bridge = TransformerBridge.boot_transformers(
            str(path), device=str(device) if device is not None else "cpu", dtype=dtype, tokenizer=tokenizer
        )
        repair_bridge_kv_cache(bridge)
        return bridge
    from nnsight import TransformersModel

    hf_model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
    if device is not None:
        hf_model.to(device)
    return TransformersModel(hf_model.eval(), tokenizer=tokenizer, task="text-generation")


def _load_hub(repo_id: str, *, backend: str, device: str | torch.device | None, dtype: torch.dtype) -> Any:
    from huggingface_hub import snapshot_download

    local = fetch_or_explain(
        f"model {repo_id!r}",
        lambda: snapshot_download(
            repo_id, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken"]
        ),
        hint="Download it on a connected machine (huggingface-cli download) and pass the local directory, "
        "or run remotely on NDIF with the nnsight backend.",
    )
    return load_hf_dir(Path(local), backend=backend, device=device, dtype=dtype)
