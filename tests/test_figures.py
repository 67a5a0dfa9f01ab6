"""Figures are real PNG files; the figures and dashboard CLIs write their outputs."""

from __future__ import annotations

import pandas as pd
import pytest

from tl_reasoning import figures

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    data = path.read_bytes()
    return data[:8] == PNG and len(data) > 5000


def test_each_figure_writes_a_png(tmp_path):
    mined = pd.DataFrame({"word": ["wait", "hmm", "the"], "p_reasoning": [0.02, 0.01, 0.05],
                          "p_plain": [0.001, 0.0, 0.05], "diff": [0.019, 0.01, 0.0]})
    steering = pd.DataFrame({"feature": [1, 1, 2, 2], "strength": [0, 2, 0, 2], "accuracy": [0.5, 0.6, 0.5, 0.4],
                             "thinking_tokens": [100, 140, 100, 90]})
    made = [figures.save_png(figures.vocab_frequency_plot(mined), tmp_path / "v.png"),
            figures.save_png(figures.score_distribution_plot(pd.Series(range(1000)) / 1e5), tmp_path / "s.png"),
            figures.save_png(figures.steering_results_plot(steering), tmp_path / "st.png"),
            figures.save_png(figures.diff_presence_plot({"base": 0.2, "sft": 0.7, "rl": 0.9}), tmp_path / "d.png")]
    assert all(_is_png(p) for p in made)
    with pytest.raises(ValueError, match="accuracy"):
        figures.steering_results_plot(steering.drop(columns="accuracy"))


def test_figures_cli(tmp_path):
    from tests.browser.organism import organism_setup
    from tl_reasoning.cli import main

    organism_setup()[2].save(tmp_path / "scores")
    code = main(["figures", "--scores", str(tmp_path / "scores"), "--reasoning", "organism:reasoning",
                 "--plain", "organism:plain", "--max-docs", "100", "--out", str(tmp_path / "figs")])
    assert code == 0
    assert _is_png(tmp_path / "figs" / "score_distribution.png") and _is_png(tmp_path / "figs" / "vocab_frequency.png")
    assert main(["dashboard", "--model", "organism", "--sae", "organism", "--scores", str(tmp_path / "scores"),
                 "--data", "organism:reasoning", "--top", "2", "--max-docs", "10", "--contexts", "3", "--out", str(tmp_path / "d.html")]) == 0
    assert (tmp_path / "d.html").read_text().count("<section class='tlr-feature'") == 2
