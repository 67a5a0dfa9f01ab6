"""``steer --save`` / ``steer --spec`` / ``evaluate --spec``: the same steering back, clear one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tl_reasoning.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"


def _steer(model_dir, *extra):
    return ["steer", *(["--model", str(model_dir)] if model_dir else []), "--backend", "hooked", "--prompt",
            "wait, let me", "--max-new-tokens", "6", *extra]


def _last_error(capsys, command="steer"):
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"tl-reasoning {command}: error:"), last
    return last


def test_steer_spec_reproduces_the_saved_steering(tiny_model_dir, tiny_sae_dir, tmp_path, capsys):
    spec = tmp_path / "spec.json"
    flags = ["--sae", str(tiny_sae_dir), "--site", "blocks.0.hook_resid_post", "--feature", "3", "--feature", "7",
             "--rho", "0.5", "--f-max", "3", "--f-max", "2", "--positions", "1:40", "--json"]
    assert main(_steer(tiny_model_dir, *flags, "--save", str(spec))) == 0
    captured = capsys.readouterr()
    first = json.loads(captured.out)
    assert f"wrote steering spec {spec}" in captured.err
    saved = json.loads(spec.read_text())
    (entry,) = saved["steerings"]
    assert (entry["rho"], entry["f_max"], entry["site"]) == (0.5, [3.0, 2.0], "blocks.0.hook_resid_post")
    assert entry["strength"] == pytest.approx(first["features"][0]["strength"])  # the γ solved for ρ, kept
    assert saved["model"] == str(tiny_model_dir)
    assert main(_steer(None, "--spec", str(spec), "--json")) == 0  # the model comes from the spec
    again = json.loads(capsys.readouterr().out)
    assert again["steered"] == first["steered"] and again["features"] == first["features"]
    assert first["steered"]["tokens"] != first["baseline"]["tokens"]
    assert (again["requested_rho"], again["positions"], again["mode"]) == (0.5, "1:40", "add")


def test_steer_save_in_text_mode_says_where(tiny_model_dir, tiny_sae_dir, tmp_path, capsys, monkeypatch):
    import argparse

    # nnsight mounts .save() on every object once loaded, which hides an argparse default named "save"
    monkeypatch.setattr(argparse.Namespace, "save", lambda self: self, raising=False)
    spec = tmp_path / "out.json"
    assert main(_steer(tiny_model_dir, "--sae", str(tiny_sae_dir), "--feature", "3", "--f-max", "3", "--save",
                       str(spec))) == 0
    out = capsys.readouterr().out
    assert f"wrote steering spec {spec}" in out and "steering #3 (f_max 3)" in out
    assert main(_steer(tiny_model_dir, "--spec", str(spec), "--save", str(tmp_path / "copy.json"))) == 0
    capsys.readouterr()
    copy = json.loads((tmp_path / "copy.json").read_text())
    original = json.loads(spec.read_text())
    assert copy["steerings"] == original["steerings"] and copy["saes"] == original["saes"]
    assert main(_steer(tiny_model_dir, "--spec", str(spec))) == 0  # no --save: nothing written, no error
    assert "wrote steering spec" not in capsys.readouterr().out


def _other_sae(tmp_path):
    import torch
    from sae_lens import SAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    torch.manual_seed(7)
    meta = SAEMetadata(hook_name="blocks.1.hook_resid_post", model_name="tiny", hook_head_index=None)
    path = tmp_path / "other_sae"
    SAE.from_dict(StandardSAEConfig(d_in=64, d_sae=256, metadata=meta).to_dict()).save_model(str(path))
    return path


def test_steer_spec_errors_are_one_clear_line(tiny_model_dir, tiny_sae_dir, tmp_path, capsys):
    import tl_reasoning as tr

    spec = tmp_path / "spec.json"
    sae = tr.load_sae(str(tiny_sae_dir))
    tr.save_steering(spec, tr.feature_steering(sae, [3], strength=2.0, f_max=1.0))  # no model recorded
    assert main(_steer(tiny_model_dir, "--spec", str(spec), "--feature", "4", "--mode", "clamp")) == 1
    assert "--spec gives the whole steering, so --feature, --mode cannot be used with it" in _last_error(capsys)
    assert main(_steer(None, "--spec", str(spec))) == 1
    assert "records no model; pass --model NAME" in _last_error(capsys)
    assert main(_steer(tiny_model_dir, "--spec", str(tmp_path / "nope.json"))) == 1
    assert "no steering spec at" in _last_error(capsys)
    assert main(_steer(tiny_model_dir, "--spec", str(spec), "--sae", str(_other_sae(tmp_path)))) == 1
    assert "differs" in _last_error(capsys)
    assert main(_steer(tiny_model_dir, "--feature", "3", "--f-max", "1")) == 1
    assert "steer needs --sae (or --spec SPEC.json" in _last_error(capsys)
    assert main(_steer(tiny_model_dir, "--sae", str(tiny_sae_dir), "--feature", "3", "--f-max", "1", "--save",
                       str(tmp_path))) == 1
    assert "--save" in _last_error(capsys)  # a directory: refused before anything loads


def test_evaluate_spec_is_one_condition(tiny_model_dir, tiny_sae_dir, tmp_path, capsys):
    import tl_reasoning as tr

    spec = tmp_path / "push.json"
    tr.save_steering(spec, tr.feature_steering(tr.load_sae(str(tiny_sae_dir)), [3, 7], strength=6.0, f_max=2.0,
                                               site="blocks.0.hook_resid_post"))
    out = tmp_path / "e"
    code = main(["evaluate", "--model", str(tiny_model_dir), "--benchmark", str(FIXTURES / "math500.jsonl"),
                 "--limit", "2", "--max-new-tokens", "4", "--quiet", "--n-boot", "50", "--spec", str(spec),
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert pd.read_csv(out / "summary.csv")["condition"].tolist() == ["baseline", "spec:push"]
    info = json.loads((out / "config.json").read_text())["conditions"]["spec:push"]
    assert "[3, 7]" in json.dumps(info)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "tl-reasoning/steering-spec", "version": 99}))
    assert main(["evaluate", "--spec", str(bad), "--out", str(tmp_path / "x")]) == 1
    assert "upgrade tl-reasoning" in _last_error(capsys, "evaluate")
