"""Bad inputs and faults (issue 17), table-driven: each gives a non-zero exit with exactly one stderr line naming
the problem and the fix (no traceback unless --debug), or a documented exception from the Python API."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from tests.test_plugins import fake_dist  # noqa: F401 - fixture
from tl_reasoning.cli import main

STEER = ["steer", "--model", "organism", "--sae", "organism", "--feature", "3", "--prompt", "hi"]
VOCAB = ["vocab", "mine", "--reasoning", "organism:reasoning", "--plain", "organism:plain", "--out", "x.csv"]
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusal")


def run_cli(argv, capsys):
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code, err, *needles, exit_code=None):
    assert code not in (0, None), err
    if exit_code is not None:
        assert code == exit_code, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tl-reasoning"), err
    for needle in needles:
        assert needle in lines[0], lines[0]


# (argv, words the one line must contain) -- refused by the parser (exit 2) before anything loads
PARSER_CASES = [
    ([*STEER, "--strength", "nan"], ["--strength", "finite", "'nan'"]),
    ([*STEER, "--strength", "inf"], ["--strength", "finite"]),
    ([*STEER, "--strength=-inf"], ["--strength", "finite"]),
    ([*STEER, "--strength", "two"], ["--strength", "'two'"]),
    ([*STEER, "--f-max", "nan"], ["--f-max", "finite"]),
    ([*STEER, "--f-max", "-1"], ["--f-max", "> 0"]),
    ([*STEER, "--f-max", "1", "--f-max", "inf"], ["--f-max"]),
    ([*STEER, "--temperature", "-1"], ["--temperature", "> 0", "greedy"]),
    ([*STEER, "--temperature", "0"], ["--temperature", "> 0"]),
    ([*STEER, "--temperature", "nan"], ["--temperature"]),
    ([*STEER, "--rho", "nan"], ["--rho"]),
    ([*STEER, "--rho", "-0.1"], ["--rho", "> 0"]),
    ([*STEER, "--max-new-tokens", "0"], ["--max-new-tokens", ">= 1"]),
    ([*STEER, "--max-new-tokens", "1.5"], ["--max-new-tokens", "whole number"]),
    ([*STEER[:5], "--feature", "-2", "--prompt", "hi"], ["--feature", ">= 0"]),
    ([*STEER, "--width", "0"], ["--width"]),
    ([*STEER, "--remote-timeout", "0"], ["--remote-timeout", "seconds"]),
    ([*STEER, "--remote-timeout", "nan"], ["--remote-timeout"]),
    ([*STEER, "--threads", "0"], ["--threads", ">= 1"]),
    (["--threads", "-3", *STEER], ["--threads"]),
    ([*STEER, "--strength", "1", "--rho", "0.1"], ["not allowed with"]),
    ([*VOCAB, "--top", "0"], ["--top", ">= 1"]),
    ([*VOCAB, "--max-plain-freq", "1.5"], ["--max-plain-freq", "(0, 1]"]),
    ([*VOCAB, "--max-plain-freq", "nan"], ["--max-plain-freq"]),
    ([*VOCAB, "--min-count", "-3"], ["--min-count"]),
    ([*VOCAB, "--max-ngram", "abc"], ["--max-ngram"]),
    ([*VOCAB, "--max-docs", "0"], ["--max-docs"]),
    (["steer", "--model", "organism"], ["required"]),
    (["inspect"], ["--model", "required"]),
    (["plugins", "--bogus"], ["unrecognized"]),
]


@pytest.mark.parametrize("argv,needles", PARSER_CASES, ids=[" ".join(c[0][-2:]) for c in PARSER_CASES])
def test_parser_refuses_bad_values_in_one_line(argv, needles, capsys):
    code, out, err = run_cli(argv, capsys)
    assert_one_line(code, err, *needles, exit_code=2)
    assert "--help" in err and out == ""


@pytest.fixture
def bad_sae_dirs(tiny_sae_dir, tmp_path):
    wrong_cfg = tmp_path / "wrong_cfg"
    shutil.copytree(tiny_sae_dir, wrong_cfg)
    cfg = json.loads((wrong_cfg / "cfg.json").read_text())
    cfg["d_sae"] = 128
    (wrong_cfg / "cfg.json").write_text(json.dumps(cfg))
    not_st = tmp_path / "not_safetensors"
    shutil.copytree(tiny_sae_dir, not_st)
    (not_st / "sae_weights.safetensors").write_bytes(b"PK\x03\x04 this is a zip, not safetensors" * 10)
    return {"wrong_cfg": wrong_cfg, "not_safetensors": not_st, "no_cfg": tmp_path}


RUN_CASES = [
    ("device cuda", [*STEER, "--f-max", "1", "--device", "cuda"], ["cuda", "--device cpu"]),
    ("device bogus", [*STEER, "--f-max", "1", "--device", "quantum"], ["unknown device", "cpu"]),
    ("inspect device cuda", ["inspect", "--model", "organism", "--device", "cuda:0"], ["cuda", "--device cpu"]),
    ("unknown model", ["inspect", "--model", "no-such-model"], ["not a registered name", "organism"]),
    ("unknown mode", [*STEER, "--f-max", "1", "--mode", "teleport"], ["teleport", "registered modes"]),
    ("bad option", [*STEER, "--f-max", "1", "--option", "oops"], ["KEY=VALUE"]),
    ("sae cfg disagrees", ["steer", "--model", "organism", "--sae", "{wrong_cfg}", "--feature", "1", "--prompt", "hi",
                           "--f-max", "1"], ["cfg.json disagrees", "re-save"]),
    ("sae not safetensors", ["steer", "--model", "organism", "--sae", "{not_safetensors}", "--feature", "1",
                             "--prompt", "hi", "--f-max", "1"], ["not a valid safetensors", "re-save"]),
    ("sae dir without cfg", ["steer", "--model", "organism", "--sae", "{no_cfg}", "--feature", "1", "--prompt", "hi",
                             "--f-max", "1"], ["no cfg.json"]),
    ("stats not safetensors", [*STEER, "--stats", "{not_safetensors}/cfg.json"], ["safetensors"]),
]


@pytest.mark.parametrize("argv,needles", [c[1:] for c in RUN_CASES], ids=[c[0] for c in RUN_CASES])
def test_run_errors_are_one_line(argv, needles, bad_sae_dirs, capsys):
    if any("cuda" in a for a in argv) and torch.cuda.is_available():
        pytest.skip("checks the CPU-only refusal")
    argv = [a.format(**bad_sae_dirs) for a in argv]
    code, out, err = run_cli(argv, capsys)
    assert_one_line(code, err, *needles, exit_code=1)


def test_unexpected_exception_names_its_class_and_debug_shows_traceback(monkeypatch, capsys):
    from tl_reasoning.cli import steer_cmd

    def boom(args):
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.setattr(steer_cmd, "run", boom)
    code, out, err = run_cli([*STEER, "--f-max", "1"], capsys)
    assert_one_line(code, err, "ZeroDivisionError", "division by zero", "--debug", exit_code=1)
    with pytest.raises(ZeroDivisionError):
        main([*STEER, "--f-max", "1", "--debug"])
    with pytest.raises(ZeroDivisionError):
        main(["--debug", *STEER, "--f-max", "1"])


def test_blocked_builtin_is_named_in_the_error(monkeypatch, capsys):
    from tl_reasoning.plugins import reset_plugins

    monkeypatch.setenv("TL_REASONING_BLOCK_PLUGINS", "builtin_organism")
    reset_plugins()
    code, out, err = run_cli(["inspect", "--model", "organism"], capsys)
    assert_one_line(code, err, "TL_REASONING_BLOCK_PLUGINS", "builtin_organism", exit_code=1)


def test_plugin_calling_sys_exit_is_recorded_not_fatal(fake_dist, capsys):  # noqa: F811
    from tl_reasoning.plugins import reset_plugins

    fake_dist("exit-plugin", {"aa_exits": "fakeplug_exits"}, {"fakeplug_exits": "import sys\nsys.exit(3)\n"})
    reset_plugins()
    code, out, err = run_cli(["plugins"], capsys)
    assert code == 0
    assert "aa_exits" in out and "sys.exit(3)" in out and "builtin_organism" in out
    reset_plugins()
    code, out, err = run_cli(["vocab", "show", "--model", "organism", "--json"], capsys)
    assert code == 0 and json.loads(out)


def test_slow_plugin_is_named_while_it_loads(fake_dist, monkeypatch, capsys):  # noqa: F811
    from tl_reasoning.plugins import plugin_report, reset_plugins

    fake_dist("slow-plugin", {"aa_slow": "fakeplug_slow"}, {"fakeplug_slow": "import time\ntime.sleep(0.8)\n"})
    monkeypatch.setenv("TL_REASONING_PLUGIN_WARN_SECONDS", "0.2")
    reset_plugins()
    infos, failures = plugin_report()
    err = capsys.readouterr().err
    assert "loading plugin 'aa_slow'" in err and "TL_REASONING_BLOCK_PLUGINS=aa_slow" in err
    assert "aa_slow" in {i.name for i in infos}


# -- the Python API validates the same way -------------------------------------------------------
def test_api_load_model_refuses_missing_cuda():
    from tl_reasoning import load_model

    if torch.cuda.is_available():
        pytest.skip("checks the CPU-only refusal")
    with pytest.raises(ValueError, match="no usable CUDA GPU"):
        load_model("organism", device="cuda")


def test_api_load_sae_refuses_disagreeing_cfg(bad_sae_dirs):
    from tl_reasoning import load_sae

    with pytest.raises(ValueError, match="cfg.json disagrees"):
        load_sae(bad_sae_dirs["wrong_cfg"])
    with pytest.raises(ValueError, match="not a valid safetensors"):
        load_sae(bad_sae_dirs["not_safetensors"])


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), 0, -5, "10"])
def test_api_resolve_remote_refuses_bad_timeouts(timeout):
    from tl_reasoning.remote import resolve_remote

    with pytest.raises(ValueError, match="timeout"):
        resolve_remote("http://127.0.0.1:9", timeout=timeout)


def test_api_remote_timeout_is_finite_by_default():
    from tl_reasoning.remote import resolve_remote
    from tl_reasoning.remote.target import DEFAULT_REMOTE_TIMEOUT

    assert resolve_remote("http://127.0.0.1:9").timeout == DEFAULT_REMOTE_TIMEOUT == 600
    assert resolve_remote("http://127.0.0.1:9", timeout=3600).timeout == 3600


@pytest.mark.parametrize("kwargs,match", [
    (dict(strength=float("nan")), "strength must be finite"),
    (dict(strength=[1.0, float("inf")]), "strength must be finite"),
    (dict(f_max=float("nan")), "f_max must be finite"),
    (dict(f_max=torch.tensor([1.0, float("-inf")])), "f_max must be finite"),
])
def test_api_feature_steering_refuses_non_finite(tiny_sae_dir, kwargs, match):
    from tl_reasoning import feature_steering, load_sae

    sae = load_sae(tiny_sae_dir)
    with pytest.raises(ValueError, match=match):
        feature_steering(sae, [3, 7], **{"f_max": 1.0, **kwargs})


@pytest.mark.parametrize("kwargs,match", [
    (dict(do_sample=True, temperature=-1.0), "temperature"),
    (dict(do_sample=True, temperature=float("nan")), "temperature"),
    (dict(do_sample=True, top_p=1.5), "top_p"),
])
def test_api_generate_refuses_bad_sampling(models, kwargs, match):
    from tl_reasoning import generate

    with pytest.raises(ValueError, match=match):
        generate(models["hooked"], "hi", 2, **kwargs)
