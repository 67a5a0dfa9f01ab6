"""``tl-reasoning evaluate``: a smoke run on the organism and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from tl_reasoning.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"


def _stats_dir(tmp_path, d_sae):
    """Constructed statistics (histogram + maxima) for an SAE with ``d_sae`` features."""
    from tl_reasoning.stats import FeatureStats

    stats = FeatureStats.empty(["wait"], d_sae, hist_edges=torch.tensor([1.0]))
    stats.hist[:, 1] = torch.arange(d_sae) % 50
    stats.count_other += 1000
    stats.max_activation[:] = 4.0
    path = tmp_path / "stats"
    path.mkdir()
    stats.save(path / "stats.safetensors")
    return path


def test_evaluate_smoke_on_the_organism(tmp_path, capsys):
    from tl_reasoning import load_sae

    d_sae = int(load_sae("organism").cfg.d_sae)
    features = f"{d_sae // 2},{d_sae // 4}"
    out = tmp_path / "eval"
    code = main(["evaluate", "--features", features, "--strength", "2,4", "--controls", "random:2", "--word-ban",
                 "--word-ban-runs", "1", "--limit", "2", "--max-new-tokens", "16", "--n-boot", "100",
                 "--stats", str(_stats_dir(tmp_path, d_sae)), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    for name in ("summary.csv", "summary.json", "records.csv", "generations.jsonl", "items.jsonl", "config.json",
                 "table.txt", "steering_results.png"):
        assert (out / name).is_file(), name
    assert (out / "steering_results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = pd.read_csv(out / "summary.csv")
    a, b = features.split(",")
    config = json.loads((out / "config.json").read_text())
    controls = []
    for name in (f"random~#{a} γ=2", f"random~#{a} γ=4", f"random~#{b} γ=2", f"random~#{b} γ=4"):
        controls += [name] + [f"{name} · #{f}" for f in config["conditions"][name]["features"]]
    expected = ["baseline", f"#{a} γ=2", f"#{a} γ=4", f"#{b} γ=2", f"#{b} γ=4", *controls, "word ban", "random words"]
    assert summary["condition"].tolist() == expected  # each control feature has its own row
    assert (summary.set_index("condition").loc[f"random~#{a} γ=2", "n_runs"]) == 2
    assert (summary.set_index("condition").loc[f"random~#{a} γ=2", "n_controls_requested"]) == 2
    assert set(summary.loc[summary["kind"] == "control_feature", "n_runs"]) == {1}
    assert "passes_gates" in summary.columns and "capped" in summary.columns
    records = pd.read_csv(out / "records.csv")
    assert len(records) == 2 * (1 + 4 + 8 + 1 + 1)
    randoms = config["conditions"][f"random~#{a} γ=2"]
    assert randoms["matched_to"] == int(a) and len(set(randoms["features"])) == 2
    assert int(a) not in randoms["features"] and int(b) not in randoms["features"]
    assert "evaluate [" in captured.err  # progress lines
    assert "acc %" in captured.out and "word ban" in captured.out and str(out) in captured.out
    assert "non-inferior" in captured.out and "gates" in captured.out  # the criteria are printed
    assert randoms["push_tolerance"] == 0.2 and len(randoms["pushes"]) == 2


def test_evaluate_baseline_only_on_a_benchmark_file(tmp_path, capsys, tiny_model_dir):
    code = main(["evaluate", "--model", str(tiny_model_dir), "--benchmark", str(FIXTURES / "math500.jsonl"),
                 "--limit", "2", "--max-new-tokens", "4", "--quiet", "--out", str(tmp_path / "e")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == "" or "evaluate [" not in captured.err
    summary = pd.read_csv(tmp_path / "e" / "summary.csv")
    assert summary["condition"].tolist() == ["baseline"] and summary["n_problems"].tolist() == [2]
    assert not (tmp_path / "e" / "steering_results.png").exists()


@pytest.mark.parametrize("extra, message", [
    (["--features", "99999999"], "unknown feature index 99999999"),
    (["--benchmark", str(FIXTURES / "unknown_columns.jsonl")], "cannot tell the benchmark format"),
    (["--benchmark", "no/such/file.jsonl"], "neither a registered name"),
    (["--controls", "random:x"], "use random or random:N"),
    (["--controls", "random"], "pass --features too"),  # bare "random": the default 10 controls
    (["--controls", "random:2"], "pass --features too"),
    (["--features", "1,x"], "comma-separated integers"),
    (["--features", "1", "--mode", "nope"], "unknown steering mode"),
    (["--samples", "0"], "--samples: expected a whole number >= 1"),
])
def test_errors_are_one_clear_line(tmp_path, capsys, extra, message):
    try:
        code = main(["evaluate", "--limit", "1", "--out", str(tmp_path / "x"), *extra])
    except SystemExit as exc:  # refused by the option parser
        code = exc.code
    assert code in (1, 2)
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("tl-reasoning evaluate: error:")


def test_missing_f_max_says_pass_stats(tmp_path, capsys, tiny_model_dir, tiny_sae_dir):
    args = ["evaluate", "--model", str(tiny_model_dir), "--sae", str(tiny_sae_dir), "--features", "3",
            "--benchmark", str(FIXTURES / "aime_2024.jsonl"), "--out", str(tmp_path / "x")]
    assert main(args) == 1
    assert "pass --stats DIR" in capsys.readouterr().err
    assert main([*args, "--f-max", "2", "--controls", "random:1"]) == 1
    assert "--controls random:N needs activation frequencies: pass --stats DIR" in capsys.readouterr().err
