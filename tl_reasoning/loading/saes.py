"""``load_sae``: a sae-lens SAE by registered name, local directory, sae-lens release or Hub repo path.

Accepted forms:

- a registered name: ``organism``, ``organism-base`` (``tl-reasoning plugins`` lists all);
- a local directory written by ``SAE.save_model`` (``cfg.json`` + ``sae_weights.safetensors``);
- a sae-lens release and SAE id: ``load_sae("llama_scope_r1_distill", sae_id="l15r_800m_openr1_math")``
  or ``"llama_scope_r1_distill/l15r_800m_openr1_math"``;
- a Hugging Face repo and the folder holding the SAE inside it, e.g. the paper's
  ``"andreuka18/deepseek-r1-distill-llama-8b-lmsys-openthoughts/blocks.19.hook_resid_post"``
  (or the repo with ``sae_id=`` the folder; an ``hf://`` prefix is allowed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from tl_reasoning.loading.hub import fetch_or_explain
from tl_reasoning.loading.models import check_device, resolve_dtype

__all__ = ["check_sae_compatible", "load_sae", "load_sae_dir", "sae_site"]

_DTYPE_NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float64: "float64"}


def load_sae(
    spec: str | os.PathLike[str],
    *,
    sae_id: str | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
) -> Any:
    """Load a sae-lens ``SAE`` from any of the forms in the module docstring.

    The SAE remembers how it was loaded (``sae.tl_reasoning_source``: the spec, an existing local
    directory made absolute, and ``sae_id``), so a saved steering spec can name it for others.
    """
    from tl_reasoning.plugins import get_registry

    sae = _load_sae(spec, sae_id=sae_id, device=device, dtype=dtype)
    spec_str = os.fspath(spec)
    path = Path(spec_str).expanduser()
    registered = spec_str in get_registry("sae") and sae_id is None
    reference = str(path.resolve()) if path.exists() and not registered else spec_str
    try:
        sae.tl_reasoning_source = {"sae": reference, "sae_id": sae_id}
    except (AttributeError, TypeError):  # an object that takes no attributes: specs then need sae= to load
        pass
    return sae


def _load_sae(
    spec: str | os.PathLike[str],
    *,
    sae_id: str | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
) -> Any:
    from tl_reasoning.plugins import get_registry

    torch_dtype = resolve_dtype(dtype)
    check_device(device)
    device_str = str(device) if device is not None else "cpu"
    spec_str = os.fspath(spec)
    registry = get_registry("sae")
    if spec_str in registry and sae_id is None:
        return registry.get(spec_str).obj(device=device_str, dtype=torch_dtype)
    path = Path(spec_str).expanduser()
    if path.exists():
        return load_sae_dir(path if sae_id is None else path / sae_id, device_str, torch_dtype)
    spec_str = spec_str.removeprefix("hf://").strip("/")
    release, _, rest = spec_str.partition("/")
    if _is_release(release):
        sae_id = sae_id or rest
        if not sae_id:
            raise ValueError(f"sae-lens release {release!r} needs an SAE id: load_sae({release!r}, sae_id=...)")
        return _load_release(release, sae_id, device_str, torch_dtype)
    parts = spec_str.split("/")
    if len(parts) < 2 or not all(parts):
        known = registry.known()
        raise FileNotFoundError(
            f"SAE {spec_str!r} is not a registered name ({known}), an existing directory, a sae-lens "
            "release, or a Hugging Face repo path 'owner/repo/folder'"
        )
    repo = "/".join(parts[:2])
    folder = sae_id or "/".join(parts[2:])
    return _load_hub_folder(repo, folder, device_str, torch_dtype)


def load_sae_dir(path: Path, device: str, dtype: torch.dtype) -> Any:
    from sae_lens import SAE

    from tl_reasoning.organism import quiet_artifact_loading

    if not (path / "cfg.json").is_file():
        raise FileNotFoundError(f"{path} is not a sae-lens SAE directory (no cfg.json); write one with SAE.save_model")
    weights = path / "sae_weights.safetensors"
    if weights.is_file():
        _check_safetensors(weights)
    try:
        with quiet_artifact_loading(path):  # the organism's SAEs load without sae-lens's HookedSAETransformer advice
            return SAE.load_from_disk(str(path), device=device, dtype=_DTYPE_NAMES[dtype])
    except RuntimeError as exc:
        if "size mismatch" not in str(exc) and "Missing key" not in str(exc) and "Unexpected key" not in str(exc):
            raise
        detail = next((line.strip() for line in str(exc).splitlines() if "size mismatch" in line or "key" in line),
                      str(exc).splitlines()[0])
        raise ValueError(f"SAE directory {path}: cfg.json disagrees with sae_weights.safetensors ({detail}); "
                         "fix d_in/d_sae/architecture in cfg.json or re-save the SAE with SAE.save_model") from None


def _check_safetensors(path: Path) -> None:
    """``ValueError`` naming ``path`` when it is not a readable safetensors file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt"):
            pass
    except Exception as exc:  # SafetensorError and OSError: a truncated, foreign or unreadable file
        raise ValueError(f"{path} is not a valid safetensors file ({' '.join(str(exc).split())}); re-save the SAE "
                         "with SAE.save_model or download it again") from None


def _is_release(name: str) -> bool:
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    return name in get_pretrained_saes_directory()


def _load_release(release: str, sae_id: str, device: str, dtype: torch.dtype) -> Any:
    from sae_lens import SAE
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    known = get_pretrained_saes_directory()[release].saes_map
    if sae_id not in known:
        sample = ", ".join(list(known)[:8])
        raise ValueError(f"release {release!r} has no SAE id {sae_id!r}; ids include: {sample}, …")
    return fetch_or_explain(
        f"SAE {release}/{sae_id}",
        lambda: SAE.from_pretrained(release, sae_id, device=device, dtype=_DTYPE_NAMES[dtype]),
        hint="Download it on a connected machine and pass the local SAE directory instead.",
    )


def _load_hub_folder(repo: str, folder: str, device: str, dtype: torch.dtype) -> Any:
    from huggingface_hub import snapshot_download

    patterns = [f"{folder}/*"] if folder else ["*.json", "*.safetensors"]
    local = fetch_or_explain(
        f"SAE {repo}/{folder}",
        lambda: snapshot_download(repo, allow_patterns=patterns),
        hint="Download the folder on a connected machine and pass the local directory instead.",
    )
    return load_sae_dir(Path(local) / folder if folder else Path(local), device, dtype)


def sae_site(sae: Any) -> str:
    """The hook name an SAE was trained on (``sae.cfg.metadata.hook_name``)."""
    meta = getattr(sae.cfg, "metadata", None)
    hook = getattr(meta, "hook_name", None) or getattr(sae.cfg, "hook_name", None)
    if not hook:
        raise ValueError("the SAE's config names no hook site; pass site= explicitly")
    return str(hook)


def check_sae_compatible(model: Any, sae: Any, site: str | None = None) -> str:
    """Check that ``sae`` reads the model's ``site`` (default: the SAE's own hook); return the site.

    Raises ``ValueError`` when the SAE's input width differs from the model's width, or when the
    site does not exist in the model.
    """
    from tl_reasoning.plugins import backend_for

    backend = backend_for(model)
    d_in = int(sae.cfg.d_in)
    if d_in != backend.d_model:
        raise ValueError(
            f"SAE d_in={d_in} does not match the model's d_model={backend.d_model}: this SAE was trained on "
            "another model; load the SAE that belongs to this model"
        )
    site = site or sae_site(sae)
    try:
        return backend.check_site(site).name
    except ValueError as exc:
        raise ValueError(f"the SAE's hook site does not fit this model: {exc}") from None
