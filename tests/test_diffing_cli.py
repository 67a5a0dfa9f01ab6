"""``tl-reasoning diff`` on the organism SAEs (offline); asserts structure, never organism numbers."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tl_reasoning.cli import main


@pytest.fixture
def scores_csv(tmp_path):
    path = tmp_path / "scores" / "scores.csv"
    path.parent.mkdir()
    features = [3, 14, 15, 92, 65, 35, 89, 79]
    pd.DataFrame({"feature": features, "reason_score": [1.0 - 0.1 * i for i in range(8)],
                  "rank": range(1, 9), "selected": [True] * 5 + [False] * 3}).to_csv(path, index=False)
    return path


def test_diff_cli_on_the_organism(scores_csv, tmp_path, capsys):
    out = tmp_path / "diff"
    rc = main(["diff", "--sae", "organism", "--base-sae", "organism-base", "--scores", str(scores_csv),
               "--random", "40", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "organism -> organism-base" in printed and "/5 = " in printed and "/40 = " in printed
    for name in ("diff.json", "diff_summary.csv", "diff_features.csv", "diff_matrix.csv", "diff.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0
    data = json.loads((out / "diff.json").read_text())
    assert data["settings"]["candidates"]["organism"] == [3, 14, 15, 92, 65]
    assert len(data["settings"]["random_features"]["organism"]) == 40
    features = pd.read_csv(out / "diff_features.csv")
    assert len(features) == 45 and set(features.columns) >= {"feature", "match", "cosine", "present"}
    assert features["cosine"].between(-1.0001, 1.0001).all()


def test_diff_cli_cross_layer_top_and_errors(scores_csv, tmp_path, capsys):
    import shutil

    from tl_reasoning.organism import sae_dir

    copy = shutil.copytree(sae_dir("organism"), tmp_path / "reasoning_sae")  # one snapshot for both uses
    out = tmp_path / "cross"
    rc = main(["diff", "--sae", str(copy), "--scores", str(scores_csv.parent), "--top", "3", "--random", "0",
               "--one-to-one", "greedy", "--also", f"again={copy}", "--no-figure", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "reasoning_sae -> again" in printed and "3/3 = 100%" in printed  # the same SAE under another name
    matrix = pd.read_csv(out / "diff_matrix.csv", index_col=0)
    assert matrix.shape == (3, 3) and not (out / "diff.png").exists()

    (tmp_path / "bad.csv").write_text("id,score\n1,2\n")
    assert main(["diff", "--scores", str(tmp_path / "bad.csv"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'feature' column" in err
    assert main(["diff", "--features", "5000", "--out", str(out)]) == 1
    assert "out of range" in capsys.readouterr().err
    assert main(["diff", "--out", str(out)]) == 1
    assert "needs candidates" in capsys.readouterr().err
