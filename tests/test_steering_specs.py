"""Steering specs: save → load gives the same edits and generations; a spec for another SAE is refused."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest
import torch

import tl_reasoning as tr
from tl_reasoning.steering.saved import SPEC_FORMAT, SPEC_VERSION, SteeringSpecError

PROMPTS = ["wait, let me", "the cat sat"]


@pytest.fixture(scope="module")
def hooked(tiny_model_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tr.load_model(str(tiny_model_dir), backend="hooked")


@pytest.fixture(scope="module")
def sae(tiny_sae_dir):
    return tr.load_sae(str(tiny_sae_dir))


def _other_sae_dir(tmp_path, seed=2):
    """A tiny SAE of the same shape and site as the fixture's, with other weights."""
    from sae_lens import SAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    torch.manual_seed(seed)
    meta = SAEMetadata(hook_name="blocks.1.hook_resid_post", model_name="tiny", hook_head_index=None)
    other = SAE.from_dict(StandardSAEConfig(d_in=64, d_sae=256, metadata=meta).to_dict())
    path = tmp_path / f"other_sae_{seed}"
    other.save_model(str(path))
    return path


def _configs(sae):
    """Steerings covering every built-in mode, options, position rules, per-row strengths and f_max from stats."""
    table = torch.linspace(0.5, 3.0, int(sae.cfg.d_sae))
    return {
        "add": tr.feature_steering(sae, [3, 7], strength=-3.0, f_max=[3.0, 2.0], positions="1:5", preserve_norm=True),
        "clamp": tr.feature_steering(sae, [5], strength=1.5, mode="clamp", f_max=2.5, positions="generated"),
        "cap": tr.feature_steering(sae, [5, 9], strength=0.5, mode="cap", f_max=[1.0, 2.0], only_above=True),
        "ablate": tr.feature_steering(sae, [4], mode="ablate", how="direction"),
        "per_row": tr.feature_steering(sae, [3, 7], strength=[[1.0, 2.0], [3.0, 4.0]], f_max=2.0),
        "stats": tr.feature_steering(sae, [11, 12], strength=2.0, stats=table),
        "direction": tr.direction_steering(torch.randn(64), "blocks.0.hook_resid_post", [1.0, -2.0],
                                           mode="add", preserve_norm=True),
        "direction_cap": tr.direction_steering(torch.randn(64), "blocks.1.hook_resid_post", 0.7, mode="cap",
                                               only_above=True, positions="prompt"),
    }


@pytest.mark.parametrize("name", ["add", "clamp", "cap", "ablate", "per_row", "stats", "direction", "direction_cap"])
def test_a_reloaded_spec_makes_the_same_edit(sae, tmp_path, name):
    original = _configs(sae)[name]
    path = tr.save_steering(tmp_path / "spec.json", original)
    (loaded,) = tr.load_steering(path)
    assert (loaded.site, loaded.positions, loaded.preserve_norm, loaded.d_in) == (
        original.site, original.positions, original.preserve_norm, original.d_in)
    assert dict(loaded.info) == dict(original.info)
    torch.manual_seed(5)
    x = 3 * torch.randn(2, 6, 64)
    positions = torch.arange(6)
    changed = original.edit(x, positions)
    assert not torch.equal(changed, x)  # the edit does something, so equality below means something
    assert torch.equal(loaded.edit(x, positions), changed)


@pytest.mark.parametrize("backend_name", ["hooked", "nnsight"])
def test_reloaded_spec_generates_the_same_tokens(tiny_model_dir, sae, tmp_path, backend_name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hooked = tr.load_model(str(tiny_model_dir), backend=backend_name)
    steerings = [tr.feature_steering(sae, [3, 7], strength=8.0, f_max=[3.0, 2.0], positions="generated"),
                 tr.direction_steering(torch.randn(64), "blocks.0.hook_resid_post", 3.0, preserve_norm=True)]
    path = tr.save_steering(tmp_path / "spec.json", steerings, model="tiny")
    loaded = tr.load_steering(str(path), model=hooked)
    base = [g.tokens for g in tr.generate(hooked, PROMPTS, 8)]
    first = [g.tokens for g in tr.generate(hooked, PROMPTS, 8, steerings)]
    again = [g.tokens for g in tr.generate(hooked, PROMPTS, 8, loaded)]
    assert first != base and again == first
    backend = tr.backend_for(hooked)
    batch = backend.tokenize(PROMPTS)
    with tr.add_steering(hooked, steerings=steerings):
        logits = backend.forward(batch.input_ids, batch.attention_mask)
    with tr.add_steering(hooked, steerings=loaded):
        assert torch.equal(backend.forward(batch.input_ids, batch.attention_mask), logits)


def test_the_spec_file_is_self_contained(sae, tiny_sae_dir, tmp_path):
    table = torch.linspace(0.5, 3.0, int(sae.cfg.d_sae))
    steerings = [tr.feature_steering(sae, [11, 12], strength=2.5, stats=table, mode="cap", only_above=True),
                 tr.direction_steering(torch.ones(64), "blocks.0.hook_resid_post", 1.0)]
    path = tr.save_steering(tmp_path / "my.json", steerings, model="tiny", rho=[0.25, None])
    spec = json.loads(path.read_text())
    assert (spec["format"], spec["version"], spec["model"]) == (SPEC_FORMAT, SPEC_VERSION, "tiny")
    assert spec["units"] == "activation*|decode(e_i)-decode(0)|"
    (ref,) = spec["saes"]
    assert ref["ref"] == str(tiny_sae_dir.resolve()) and ref["sae_id"] is None
    assert (ref["site"], ref["d_sae"], ref["d_in"]) == ("blocks.1.hook_resid_post", 256, 64)
    assert set(ref["fingerprint"]) >= {"d_sae", "d_in", "w_dec_sample_sha256", "architecture"}
    feature, direction = spec["steerings"]
    assert feature["kind"] == "feature" and feature["sae"] == 0 and feature["features"] == [11, 12]
    assert feature["f_max"] == pytest.approx([float(table[11]), float(table[12])])  # the values used, not stats
    assert (feature["strength"], feature["rho"], feature["mode"]) == (2.5, 0.25, "cap")
    assert feature["options"] == {"only_above": True} and feature["positions"] == "all"
    assert direction["kind"] == "direction" and direction["rho"] is None and direction["d_in"] == 64
    assert (tmp_path / direction["vector"]["file"]).is_file() and direction["vector"]["file"] == "my.vectors.safetensors"
    assert not [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name]  # atomic writes leave nothing behind
    with pytest.MonkeyPatch.context() as patch:  # a parsed spec finds its vectors in the working folder
        patch.chdir(tmp_path)
        feature_again, direction_again = tr.load_steering(spec)
    assert dict(feature_again.info) == dict(steerings[0].info) and direction_again.site == "blocks.0.hook_resid_post"


def _assert_one_line(exc_info, *parts):
    message = str(exc_info.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, message


def test_a_spec_for_another_sae_is_refused(sae, tmp_path):
    path = tr.save_steering(tmp_path / "spec.json", tr.feature_steering(sae, [3], strength=2.0, f_max=1.0))
    other = tr.load_sae(str(_other_sae_dir(tmp_path)))
    with pytest.raises(SteeringSpecError) as exc:
        tr.load_steering(path, sae=other)
    _assert_one_line(exc, "steering spec", "differs", "the SAE the spec was saved with")


def test_a_spec_whose_sae_folder_changed_is_refused(sae, tiny_sae_dir, tmp_path):
    copy = tmp_path / "sae_copy"
    shutil.copytree(tiny_sae_dir, copy)
    spec = tr.save_steering(tmp_path / "spec.json",
                            tr.feature_steering(tr.load_sae(str(copy)), [3], strength=2.0, f_max=1.0))
    assert len(tr.load_steering(spec)) == 1  # loads from the recorded path while it is unchanged
    shutil.rmtree(copy)
    shutil.copytree(_other_sae_dir(tmp_path, seed=3), copy)
    with pytest.raises(SteeringSpecError) as exc:
        tr.load_steering(spec)
    _assert_one_line(exc, str(copy), "differs")


def test_changed_weights_of_the_steered_features_are_refused(tiny_sae_dir, tmp_path):
    sae = tr.load_sae(str(tiny_sae_dir))
    spec = tr.save_steering(tmp_path / "spec.json", tr.feature_steering(sae, [3], strength=2.0, mode="clamp",
                                                                        f_max=1.0))
    edited = tr.load_sae(str(tiny_sae_dir))
    with torch.no_grad():
        edited.W_enc[:, 3] += 0.5  # the decoder (and so its fingerprint) is unchanged; clamp reads the encoder
    with pytest.raises(SteeringSpecError) as exc:
        tr.load_steering(spec, sae=edited)
    _assert_one_line(exc, "weights of features [3]", "differ")


@pytest.mark.parametrize(("edit", "message"), [
    ({"format": "something-else"}, "is not a tl-reasoning steering spec"),
    ({"version": 2}, "has version 2; this tl-reasoning reads version 1; upgrade tl-reasoning"),
    ({"version": None}, "has version None"),
    ({"units": "activation*|W_dec|"}, "uses units"),
    ({"steerings": []}, "holds no steerings"),
])
def test_unknown_format_or_version_is_refused(sae, tmp_path, edit, message):
    path = tr.save_steering(tmp_path / "spec.json", tr.feature_steering(sae, [3], strength=2.0, f_max=1.0))
    spec = json.loads(path.read_text())
    spec.update(edit)
    path.write_text(json.dumps(spec))
    with pytest.raises(SteeringSpecError) as exc:
        tr.load_steering(path)
    _assert_one_line(exc, message)


def test_missing_or_broken_files_are_clear_errors(sae, tmp_path):
    with pytest.raises(FileNotFoundError, match="no steering spec at"):
        tr.load_steering(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SteeringSpecError, match="is not valid JSON"):
        tr.load_steering(tmp_path / "bad.json")
    path = tr.save_steering(tmp_path / "spec.json", tr.direction_steering(torch.ones(64), "blocks.0.hook_resid_post"))
    (tmp_path / "spec.vectors.safetensors").unlink()
    with pytest.raises(SteeringSpecError) as exc:
        tr.load_steering(path)
    _assert_one_line(exc, "spec.vectors.safetensors", "missing", "keep the")
    path = tr.save_steering(tmp_path / "feature.json", tr.feature_steering(sae, [3], strength=2.0, f_max=1.0))
    spec = json.loads(path.read_text())
    del spec["steerings"][0]["site"]
    path.write_text(json.dumps(spec))
    with pytest.raises(SteeringSpecError, match="lacks the field 'site'"):
        tr.load_steering(path)


def test_a_spec_for_another_model_is_refused_when_a_model_is_given(hooked, sae, tmp_path):
    path = tr.save_steering(tmp_path / "spec.json", tr.feature_steering(sae, [3], strength=2.0, f_max=1.0))
    spec = json.loads(path.read_text())
    spec["steerings"][0]["site"] = "blocks.9.hook_resid_post"
    path.write_text(json.dumps(spec))
    assert tr.load_steering(path)[0].site == "blocks.9.hook_resid_post"  # no model: nothing to check against
    with pytest.raises(SteeringSpecError, match="steers blocks.9.hook_resid_post, which this model lacks"):
        tr.load_steering(path, model=hooked)


def test_what_cannot_be_saved_is_refused(sae, tmp_path):
    handmade = tr.Steering("blocks.0.hook_resid_post", lambda act, pos: act)
    with pytest.raises(SteeringSpecError, match="not made by feature_steering or direction_steering"):
        tr.save_steering(tmp_path / "spec.json", handmade)
    with pytest.raises(SteeringSpecError, match="nothing to save"):
        tr.save_steering(tmp_path / "spec.json", [])
    assert not (tmp_path / "spec.json").exists()


def test_load_steering_is_public():
    assert "load_steering" in tr.__all__ and "save_steering" in tr.__all__
    from tl_reasoning.steering.saved import load_steering

    assert tr.load_steering is load_steering


def test_a_pickled_steering_carries_no_sae(sae):
    """What a (remote) trace ships is plain tensors: the recipe (which holds the SAE object) is dropped."""
    cloudpickle = pytest.importorskip("cloudpickle")  # what nnsight serialises traces with

    steering = tr.feature_steering(sae, [1, 2], strength=2.0, f_max=1.5)
    assert steering.recipe is not None and steering.recipe["sae"] is sae
    payload = cloudpickle.dumps(steering)
    assert b"sae_lens" not in payload
    back = cloudpickle.loads(payload)
    assert back.recipe is None and back.site == steering.site and back.info == steering.info
    act = torch.randn(2, 3, int(sae.cfg.d_in))
    assert torch.equal(back.edit(act, torch.arange(3)), steering.edit(act, torch.arange(3)))
