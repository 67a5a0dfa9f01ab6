"""Steering specs: a steering setup saved as JSON that anyone can load back and get the same edit.

``tl-reasoning steer --save spec.json`` and :func:`save_steering` write a self-contained, versioned
spec (``"format": "tl-reasoning/steering-spec", "version": 1``): the SAE by registry name, sae-lens
release or absolute path plus its fingerprint (width, input size, site, architecture, hash of
sampled decoder rows), and per steering its features, strength γ (and the ρ that asked for it),
the f_max values actually used, mode, positions, norm preservation and intervention options, so a
reload rebuilds the same edit without rescoring or re-estimating anything. SAE-free direction
vectors go to ``<spec>.vectors.safetensors`` beside the JSON. :func:`load_steering` (and
``steer/evaluate --spec``, lm-eval ``spec=``) rebuilds the :class:`Steering` objects and refuses a
spec whose SAE is not the one it was saved with: the SAE's fingerprint
(:func:`~tl_reasoning.stats_checks.check_sae_matches`, as for statistics) and a hash of the
exact weights the edit uses (encoder columns, decoder rows, biases of the steered features).
Files are written atomically (:func:`~tl_reasoning.scoring.outputs.write_atomic`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from tl_reasoning.steering.spec import Steering
from tl_reasoning.units import UNITS

__all__ = ["SPEC_FORMAT", "SPEC_VERSION", "SteeringSpecError", "load_steering", "save_steering", "steering_spec"]

SPEC_FORMAT = "tl-reasoning/steering-spec"
SPEC_VERSION = 1
_VECTORS_SUFFIX = ".vectors.safetensors"
_RESAVE = "save it again with `tl-reasoning steer ... --save SPEC.json` or tl_reasoning.save_steering"


class SteeringSpecError(ValueError):
    """A steering spec that cannot be written or loaded (format, version, SAE mismatch, missing vectors)."""


def feature_weights_sha256(sae: Any, features: Sequence[int]) -> str:
    """SHA-256 of exactly the SAE weights a feature steering uses (float32, device-independent)."""
    from tl_reasoning.sae_weights import SAEWeights
    from tl_reasoning.stats_checks import checksum

    w = SAEWeights.from_sae(sae, features)
    tensors = {"W_enc": w.W_enc, "b_enc": w.b_enc, "W_dec": w.W_dec, "b_dec": w.b_dec}
    if w.threshold is not None:
        tensors["threshold"] = w.threshold
    return checksum({k: v.detach().float().cpu() for k, v in tensors.items()})


def _sae_reference(sae: Any) -> dict[str, Any]:
    """Registry name / path / release recorded by ``load_sae``, the SAE's fingerprint and site."""
    from tl_reasoning.scoring.collect import sae_identity

    source = getattr(sae, "tl_reasoning_source", None) or {}
    identity = sae_identity(sae)
    return {"ref": source.get("sae"), "sae_id": source.get("sae_id"), "site": identity.get("hook"),
            "d_sae": identity["d_sae"], "d_in": identity["d_in"], "fingerprint": identity}


def _rho_list(rho: float | Sequence[float | None] | None, n: int) -> list[float | None]:
    if rho is None or isinstance(rho, int | float):
        return [None if rho is None else float(rho)] * n
    values = list(rho)
    if len(values) != n:
        raise SteeringSpecError(f"rho has {len(values)} values for {n} steerings; give one per steering or one value")
    return [None if v is None else float(v) for v in values]


def steering_spec(steerings: Steering | Sequence[Steering], *, model: str | None = None,
                  rho: float | Sequence[float | None] | None = None,
                  vectors_file: str = "spec" + _VECTORS_SUFFIX) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(spec, vectors)``: the JSON-able spec of ``steerings`` and the direction vectors it refers to.

    ``model``: the model name to record (informational; ``steer --spec`` uses it when ``--model`` is
    not given). ``rho``: the push ρ each strength was solved for (recorded, not re-solved on load).
    """
    items = [steerings] if isinstance(steerings, Steering) else list(steerings)
    if not items:
        raise SteeringSpecError("nothing to save: pass at least one Steering")
    saes: list[Any] = []
    entries: list[dict[str, Any]] = []
    vectors: dict[str, torch.Tensor] = {}
    for index, (item, requested) in enumerate(zip(items, _rho_list(rho, len(items)), strict=True)):
        recipe = dict(item.recipe or {})
        kind = recipe.get("kind")
        common = {"kind": kind, "site": item.site, "strength": recipe.get("strength"), "rho": requested,
                  "mode": recipe.get("mode"), "positions": recipe.get("positions"),
                  "preserve_norm": bool(recipe.get("preserve_norm", False))}
        if kind == "feature":
            sae = recipe["sae"]
            if not any(sae is s for s in saes):
                saes.append(sae)
            entries.append({**common, "sae": next(i for i, s in enumerate(saes) if s is sae),
                            "features": list(recipe["features"]), "f_max": recipe.get("f_max"),
                            "options": _jsonable_options(recipe.get("options") or {}),
                            "weights_sha256": feature_weights_sha256(sae, recipe["features"])})
        elif kind == "direction":
            key = f"steering.{index}"
            vectors[key] = recipe["vector"].detach().float().cpu().contiguous()
            entries.append({**common, "d_in": int(vectors[key].numel()), "only_above": bool(recipe["only_above"]),
                            "vector": {"file": vectors_file, "key": key, "norm": float(vectors[key].norm())}})
        else:
            raise SteeringSpecError(f"steering {index} at {item.site} was not made by feature_steering or "
                                    "direction_steering, so there is nothing to rebuild it from; build it with one "
                                    "of those to save it")
    spec = {"format": SPEC_FORMAT, "version": SPEC_VERSION, "units": UNITS, "created_by": _created_by(),
            "model": model, "saes": [_sae_reference(s) for s in saes], "steerings": entries}
    return spec, vectors


def _jsonable_options(options: Mapping[str, Any]) -> dict[str, Any]:
    from tl_reasoning.steering.spec import _plain

    out = {}
    for key, value in options.items():
        plain = _plain(value)
        try:
            json.dumps(plain, allow_nan=False)
        except (TypeError, ValueError):
            raise SteeringSpecError(f"intervention option {key}={value!r} is not a JSON value (number, string, "
                                    "bool, list), so it cannot be saved in a spec; pass a plain value") from None
        out[key] = plain
    return out


def _created_by() -> str:
    from tl_reasoning._version import __version__

    return f"tl-reasoning {__version__}"


def save_steering(path: str | os.PathLike[str], steerings: Steering | Sequence[Steering], *,
                  model: str | None = None, rho: float | Sequence[float | None] | None = None) -> Path:
    """Write the spec of ``steerings`` to ``path`` (JSON; direction vectors to ``<stem>.vectors.safetensors``).

    Both files are written atomically. Returns the spec's path. See :func:`steering_spec`.
    """
    from safetensors.torch import save_file

    from tl_reasoning.scoring.outputs import check_output_file, write_atomic

    path = check_output_file(path, "--save")
    vectors_name = path.name.removesuffix(".json") + _VECTORS_SUFFIX
    spec, vectors = steering_spec(steerings, model=model, rho=rho, vectors_file=vectors_name)
    text = json.dumps(spec, indent=2, allow_nan=False) + "\n"
    if vectors:
        write_atomic(path.with_name(vectors_name), lambda tmp: save_file(vectors, str(tmp)))
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_spec(spec: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[dict[str, Any], Path, str]:
    """``(spec dict, folder its vector files are in, name for messages)``, format and version checked."""
    if isinstance(spec, Mapping):
        data, base, name = dict(spec), Path.cwd(), "the steering spec"
    else:
        file = Path(spec).expanduser()
        if not file.is_file():
            raise FileNotFoundError(f"no steering spec at {file}; pass the JSON file written by `tl-reasoning steer "
                                    "... --save SPEC.json` or tl_reasoning.save_steering")
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SteeringSpecError(f"steering spec {file} is not valid JSON ({exc}); {_RESAVE}") from None
        base, name = file.parent, f"steering spec {file}"
    if not isinstance(data, dict) or data.get("format") != SPEC_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise SteeringSpecError(f"{name} is not a tl-reasoning steering spec (format {found!r}, expected "
                                f"{SPEC_FORMAT!r}); pass a file written by `tl-reasoning steer ... --save`")
    version = data.get("version")
    if version != SPEC_VERSION:
        hint = ("upgrade tl-reasoning to load it" if isinstance(version, int) and version > SPEC_VERSION
                else _RESAVE)
        raise SteeringSpecError(f"{name} has version {version!r}; this tl-reasoning reads version {SPEC_VERSION}; "
                                f"{hint}")
    if data.get("units", UNITS) != UNITS:
        raise SteeringSpecError(f"{name} uses units {data.get('units')!r}, this version {UNITS!r}; {_RESAVE}")
    if not isinstance(data.get("steerings"), list) or not data["steerings"]:
        raise SteeringSpecError(f"{name} holds no steerings; {_RESAVE}")
    return data, base, name


def load_steering(spec: str | os.PathLike[str] | Mapping[str, Any], sae: Any = None, model: Any = None, *,
                  device: str | None = None) -> list[Steering]:
    """The :class:`Steering` objects of a saved spec, equal in effect to the ones saved.

    ``spec``: the JSON file (or its parsed dict; vector files are then looked up in the working
    folder). ``sae``: the SAE to steer (one object, or a list with one per SAE the spec names);
    by default each is loaded from the reference in the spec (on ``model``'s device, or ``device``).
    Either way it must be the SAE the spec was saved with, else :class:`SteeringSpecError` (a
    ``ValueError``). ``model``: checked to have every site and the right width.
    """
    data, base, name = read_spec(spec)
    if device is None and model is not None:
        from tl_reasoning.plugins import backend_for

        device = str(backend_for(model).device)
    saes = _spec_saes(data, sae, name, device)
    vectors: dict[str, dict[str, torch.Tensor]] = {}
    out = []
    for index, entry in enumerate(data["steerings"]):
        if not isinstance(entry, dict):
            raise SteeringSpecError(f"{name}: steering {index} is not an object; {_RESAVE}")
        try:
            out.append(_rebuild(entry, saes, base, vectors, name))
        except KeyError as exc:
            raise SteeringSpecError(f"{name}: steering {index} lacks the field {exc.args[0]!r}; {_RESAVE}") from None
    if model is not None:
        _check_model(out, model, name)
    return out


def _spec_saes(data: Mapping[str, Any], given: Any, name: str, device: str | None) -> list[Any]:
    """One checked SAE object per entry of the spec's ``saes``."""
    from tl_reasoning.loading.saes import load_sae
    from tl_reasoning.stats_checks import check_sae_matches

    refs = data.get("saes") or []
    if given is not None:
        objects = list(given) if isinstance(given, list | tuple) else [given] * len(refs)
        if len(objects) != len(refs):
            raise SteeringSpecError(f"{name} names {len(refs)} SAEs but {len(objects)} were given; pass one per SAE "
                                    "in the spec's order, or none to load them from the spec")
    else:
        objects = []
        for ref in refs:
            if not ref.get("ref"):
                raise SteeringSpecError(f"{name} does not say where its SAE comes from (it was not loaded with "
                                        "tl_reasoning.load_sae); pass the SAE: load_steering(spec, sae=...)")
            objects.append(load_sae(ref["ref"], sae_id=ref.get("sae_id"), device=device))
    for ref, sae in zip(refs, objects, strict=True):
        label = ref.get("ref") or "the SAE it was saved with"
        meta = {"config": {"sae": ref.get("fingerprint") or {}}, "sources": {"sae": ref.get("ref"),
                                                                              "sae_id": ref.get("sae_id")}}
        try:
            check_sae_matches(meta, sae, f"the features in {name}", fix=f"pass {label} (the SAE the spec was "
                              "saved with, in the same dtype), or save a new spec for this SAE")
        except ValueError as exc:
            raise SteeringSpecError(str(exc)) from None
    return objects


def _rebuild(entry: Mapping[str, Any], saes: list[Any], base: Path, vectors: dict[str, dict[str, torch.Tensor]],
             name: str) -> Steering:
    from tl_reasoning.directions import direction_steering
    from tl_reasoning.steering.spec import feature_steering

    kind = entry["kind"]
    if kind == "feature":
        index = entry["sae"]
        if not isinstance(index, int) or not 0 <= index < len(saes):
            raise SteeringSpecError(f"{name}: a steering refers to SAE {index!r}, but the spec names {len(saes)}; "
                                    f"{_RESAVE}")
        sae, features = saes[index], [int(f) for f in entry["features"]]
        recorded = entry.get("weights_sha256")
        if recorded is not None and recorded != feature_weights_sha256(sae, features):
            raise SteeringSpecError(
                f"the weights of features {features} of the SAE given differ from those {name} was saved with "
                "(encoder, decoder or biases changed, or another dtype); pass the SAE the spec was saved with, or "
                "save a new spec for this SAE")
        return feature_steering(sae, features, strength=_number(entry["strength"]), mode=entry["mode"],
                                f_max=_number(entry.get("f_max")), positions=entry["positions"], site=entry["site"],
                                preserve_norm=bool(entry.get("preserve_norm", False)), **dict(entry.get("options") or {}))
    if kind == "direction":
        ref = entry["vector"]
        vector = _vector(base / ref["file"], ref["key"], vectors, name)
        if int(entry.get("d_in", vector.numel())) != vector.numel():
            raise SteeringSpecError(f"{name}: the vector {ref['key']} has {vector.numel()} values, the spec says "
                                    f"{entry['d_in']}; {_RESAVE}")
        return direction_steering(vector, entry["site"], _number(entry["strength"]), mode=entry["mode"],
                                  positions=entry["positions"], preserve_norm=bool(entry.get("preserve_norm", False)),
                                  only_above=bool(entry.get("only_above", False)))
    raise SteeringSpecError(f"{name}: unknown steering kind {kind!r} (known: feature, direction); a newer "
                            "tl-reasoning may have written it")


def _number(value: Any) -> Any:
    """JSON numbers back as written (lists stay lists); ``None`` stays ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        raise SteeringSpecError(f"a steering spec holds the non-finite number {value}; {_RESAVE}")
    return value


def _vector(file: Path, key: str, cache: dict[str, dict[str, torch.Tensor]], name: str) -> torch.Tensor:
    from safetensors.torch import load_file

    if str(file) not in cache:
        if not file.is_file():
            raise SteeringSpecError(f"{name} needs its vector file {file}, which is missing; keep the "
                                    f"*{_VECTORS_SUFFIX} file next to the spec (copy both together)")
        try:
            cache[str(file)] = load_file(str(file))
        except Exception as exc:  # safetensors raises its own error type
            raise SteeringSpecError(f"{name}: the vector file {file} cannot be read ({exc}); {_RESAVE}") from None
    if key not in cache[str(file)]:
        raise SteeringSpecError(f"{name}: the vector file {file} has no vector {key!r}; {_RESAVE}")
    return cache[str(file)][key]


def _check_model(steerings: list[Steering], model: Any, name: str) -> None:
    from tl_reasoning.plugins import backend_for

    backend = backend_for(model)
    for item in steerings:
        try:
            site = backend.check_site(item.site).name
        except ValueError as exc:
            raise SteeringSpecError(f"{name} steers {item.site}, which this model lacks ({exc})") from None
        if item.d_in is not None and item.d_in != backend.d_model:
            raise SteeringSpecError(f"{name} steers {site} with width {item.d_in} but the model's d_model is "
                                    f"{backend.d_model}; use the model the spec was saved for")
