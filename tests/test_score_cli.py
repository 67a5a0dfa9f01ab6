"""``tl-reasoning score`` and ``tl-reasoning vocab`` end to end on the tiny model and SAE."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tl_reasoning.cli import main
from tl_reasoning.stats import FeatureStats

DOCS = ["wait, let me check 12 + 5 = 17", "the cat sat on the mat", "but therefore hmm maybe", "alternatively",
        "hmm maybe the cat sat", "let me check the mat", "the cat sat on the mat but wait"]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(json.dumps({"body": d}) for d in DOCS))
    return path


def _score(tiny_model_dir, tiny_sae_dir, corpus, out, *extra):
    return main(["score", "--model", str(tiny_model_dir), "--sae", str(tiny_sae_dir), "--data", str(corpus),
                 "--text-field", "body", "--backend", "hooked", "--batch-size", "3", "--quantile", "0.95",
                 "--window", "2,3", "--no-progress", "--out", str(out), *extra])


def test_score_writes_scores_stats_and_meta(tiny_model_dir, tiny_sae_dir, corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert _score(tiny_model_dir, tiny_sae_dir, corpus, out, "--top", "4") == 0
    printed = capsys.readouterr().out
    assert "reason_score" in printed and "features selected" in printed
    table = pd.read_csv(out / "scores.csv")
    for column in ("feature", "reason_score", "rank", "mean_reasoning", "mean_other", "entropy", "separability",
                   "word_concentration", "matched_share", "selected"):
        assert column in table.columns
    assert len(table) == 256 and table["selected"].sum() > 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["config"]["window"] == [2, 3] and meta["config"]["decoder_norm"] is True
    assert meta["scoring"]["alpha"] == 0.7 and meta["docs_seen"] == len(DOCS) and meta["tokens_seen"] > 0
    assert meta["config"]["vocab"]["let me"][0]["ids"]  # the token-id expansion is recorded
    assert meta["progress"]["fingerprint"] and meta["sources"]["data"] == str(corpus)
    stats = FeatureStats.load(out / "stats.safetensors")
    assert stats.tokens_seen == meta["tokens_seen"]

    # the same command again resumes from the finished statistics and gives the same scores
    assert _score(tiny_model_dir, tiny_sae_dir, corpus, out) == 0
    assert "resuming" in capsys.readouterr().err
    pd.testing.assert_frame_equal(pd.read_csv(out / "scores.csv"), table)

    # rescoring saved statistics needs no model
    assert main(["score", "--stats", str(out / "stats.safetensors"), "--alpha", "1.0", "--out", str(tmp_path / "r")]) == 0
    rescored = pd.read_csv(tmp_path / "r" / "scores.csv")
    assert json.loads((tmp_path / "r" / "meta.json").read_text())["scoring"]["alpha"] == 1.0
    assert not rescored.set_index("feature")["reason_score"].equals(table.set_index("feature")["reason_score"])


def test_score_errors_name_the_problem(tiny_model_dir, tiny_sae_dir, corpus, tmp_path, capsys):
    assert main(["score", "--out", str(tmp_path / "x")]) == 1
    assert "--model, --sae, --data" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["score", "--window", "1", "--out", str(tmp_path)])
    assert "--window takes two integers" in capsys.readouterr().err
    out = tmp_path / "run"
    assert _score(tiny_model_dir, tiny_sae_dir, corpus, out, "--max-docs", "3") == 0
    capsys.readouterr()
    assert _score(tiny_model_dir, tiny_sae_dir, corpus, out, "--no-decoder-norm") == 1
    assert "decoder_norm=true" in capsys.readouterr().err


def test_vocab_show_and_mine(tiny_model_dir, tmp_path, capsys):
    assert main(["vocab", "show", "--model", str(tiny_model_dir), "--vocab", "but,let me"]) == 0
    printed = capsys.readouterr().out
    assert "' but'" in printed and "2 groups" in printed
    assert main(["vocab", "show", "--model", str(tiny_model_dir), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 10
    (tmp_path / "r.txt").write_text("\n".join(["wait let me see the sum", "hmm wait the sum is wrong"] * 5))
    (tmp_path / "p.txt").write_text("\n".join(["the cat sat on the mat", "the sum is four"] * 5))
    out = tmp_path / "mined.csv"
    assert main(["vocab", "mine", "--reasoning", str(tmp_path / "r.txt"), "--plain", str(tmp_path / "p.txt"),
                 "--top", "3", "--max-plain-freq", "0.2", "--out", str(out)]) == 0
    mined = pd.read_csv(out)
    assert mined["word"].iloc[0] == "wait" and len(mined) == 3 and "p_plain" in mined.columns
