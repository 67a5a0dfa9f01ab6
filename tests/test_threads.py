"""CPU thread policy: --threads > OMP/MKL variables > 1 thread for small models > torch's default."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from tl_reasoning.threads import (
    SMALL_MODEL_PARAMETERS,
    apply_thread_policy,
    choose_threads,
    count_parameters,
    user_thread_variable,
)

NO_ENV: dict[str, str] = {}


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_small_model_gets_one_thread_large_keeps_torch_default():
    assert choose_threads(1_000_000, env=NO_ENV).threads == 1
    assert choose_threads(SMALL_MODEL_PARAMETERS - 1, env=NO_ENV).threads == 1
    assert choose_threads(SMALL_MODEL_PARAMETERS, env=NO_ENV).threads is None
    assert choose_threads(8_000_000_000, env=NO_ENV).threads is None
    assert choose_threads(None, env=NO_ENV).threads is None  # size unknown: leave torch alone
    assert choose_threads(1_000_000, env=NO_ENV, device="cuda:0").threads is None  # CPU threads barely matter


def test_precedence_flag_then_environment_then_size():
    env = {"OMP_NUM_THREADS": "4"}
    assert choose_threads(1_000_000, requested=3, env=env).threads == 3
    assert choose_threads(8_000_000_000, requested=2, env=NO_ENV).threads == 2
    chosen = choose_threads(1_000_000, env=env)
    assert chosen.threads is None and "OMP_NUM_THREADS=4" in chosen.reason
    assert choose_threads(1_000_000, env={"MKL_NUM_THREADS": "2"}).threads is None
    assert choose_threads(1_000_000, env={"OMP_NUM_THREADS": " "}).threads == 1  # empty: not set
    assert user_thread_variable({"MKL_NUM_THREADS": "2"}) == "MKL_NUM_THREADS=2"
    assert user_thread_variable(NO_ENV) is None
    with pytest.raises(ValueError, match="--threads"):
        choose_threads(1_000_000, requested=0, env=NO_ENV)


def test_count_parameters_counts_tied_weights_once_and_unwraps():
    emb = torch.nn.Embedding(10, 4)
    head = torch.nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    model = torch.nn.ModuleDict({"emb": emb, "head": head})
    assert count_parameters(model) == 40

    class Wrapper:  # older nnsight kept the torch module in ``_model``
        _model = model

    assert count_parameters(Wrapper()) == 40
    assert count_parameters(object()) is None


def test_count_parameters_finds_the_module_inside_a_real_nnsight_model(tiny_model_dir):
    from tl_reasoning.loading.models import load_hf_dir

    nn_model = load_hf_dir(tiny_model_dir, backend="nnsight", device=None, dtype=None)
    hf = nn_model._module
    assert count_parameters(nn_model) == sum(p.numel() for p in hf.parameters()) > 0


def test_apply_sets_torch_threads_only_when_the_rule_says_so(restore_threads):
    tiny = torch.nn.Linear(4, 4)
    torch.set_num_threads(2)
    assert apply_thread_policy(tiny, env=NO_ENV).threads == 1 and torch.get_num_threads() == 1
    torch.set_num_threads(2)
    apply_thread_policy(tiny, env={"OMP_NUM_THREADS": "2"})
    assert torch.get_num_threads() == 2  # the user's variable wins: untouched
    apply_thread_policy(tiny, threads=3, env={"OMP_NUM_THREADS": "2"})
    assert torch.get_num_threads() == 3
    torch.set_num_threads(2)
    apply_thread_policy(None, env=NO_ENV)  # nothing known: untouched
    assert torch.get_num_threads() == 2


def test_threads_flag_parses_before_and_after_the_command():
    from tl_reasoning.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["--threads", "2", "inspect", "--model", "organism"]).threads == 2
    assert parser.parse_args(["inspect", "--model", "organism", "--threads", "3"]).threads == 3
    assert parser.parse_args(["inspect", "--model", "organism"]).threads is None
    assert "--threads" in parser.format_help()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert all("--threads" in p.format_help() for p in sub.choices.values())


@pytest.mark.parametrize("argv", [["--threads", "3", "inspect", "--model", "organism"],
                                  ["inspect", "--model", "organism", "--threads", "3"]])
def test_threads_flag_reaches_torch(argv, monkeypatch, restore_threads, capsys):
    from tl_reasoning.cli import main

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the flag beats the variable
    torch.set_num_threads(1)
    assert main(argv) == 0
    assert torch.get_num_threads() == 3


def test_cli_default_is_one_thread_for_the_organism_unless_the_user_set_a_variable(monkeypatch, restore_threads,
                                                                                   capsys):
    from tl_reasoning.cli import main

    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    torch.set_num_threads(2)
    assert main(["inspect", "--model", "organism"]) == 0
    assert torch.get_num_threads() == 1
    monkeypatch.setenv("MKL_NUM_THREADS", "2")
    torch.set_num_threads(2)
    assert main(["inspect", "--model", "organism"]) == 0
    assert torch.get_num_threads() == 2


def test_run_demo_restores_the_thread_count(monkeypatch, restore_threads, tmp_path):
    """The Python API applies the rule for the run only (checked on a run that fails right after loading)."""
    from tl_reasoning.demo import DemoConfig, run_demo

    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    seen: list[int] = []

    def fail_after_load(*args, **kwargs):
        seen.append(torch.get_num_threads())
        raise RuntimeError("stop")

    monkeypatch.setattr("tl_reasoning.score_features", fail_after_load)
    torch.set_num_threads(2)
    with pytest.raises(RuntimeError, match="stop"):
        run_demo(DemoConfig(), tmp_path / "demo", progress=False)
    assert seen == [1] and torch.get_num_threads() == 2


def test_import_does_not_touch_threads():
    code = ("import torch; torch.set_num_threads(2); import tl_reasoning, tl_reasoning.cli, tl_reasoning.threads, "
            "tl_reasoning.demo; print(torch.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "2"
