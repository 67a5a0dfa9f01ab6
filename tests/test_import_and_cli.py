"""Importing is inert; every CLI command has help; inspect reports a model and SAE."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from tl_reasoning.cli import build_parser, main


def test_import_has_no_side_effects():
    code = (
        "import sys, tl_reasoning, tl_reasoning.plugins as p;"
        "heavy=[m for m in ('torch','nnsight','transformer_lens','sae_lens','circuitsvis','openai','neuronpedia') if m in sys.modules];"
        "print(heavy, p._HOST is None)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[] True"


def test_public_api_resolves():
    import tl_reasoning

    for name in tl_reasoning.__all__:
        assert getattr(tl_reasoning, name) is not None
    with pytest.raises(AttributeError):
        tl_reasoning.not_a_name  # noqa: B018


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"plugins", "inspect"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: tl-reasoning " + name in capsys.readouterr().out


def test_console_script_runs():
    script = Path(sys.executable).parent / "tl-reasoning"
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("tl-reasoning ")


def test_inspect_reports_model_and_sae(tiny_model_dir, tiny_sae_dir, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["inspect", "--model", str(tiny_model_dir), "--sae", str(tiny_sae_dir), "--backend", "hooked",
                     "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["backend"] == "hooked" and report["n_layers"] == 2
    assert report["sae"]["site"] == "blocks.1.hook_resid_post" and report["sae"]["d_sae"] == 256


def test_cli_error_is_one_clear_line(capsys):
    assert main(["inspect", "--model", "./missing-dir"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tl-reasoning inspect: error:") and "not a registered name" in err
