"""The paper's figures as PNG (matplotlib, Agg backend): vocabulary, ReasonScore, steering, diffing."""

from tl_reasoning.figures.plots import (
    diff_presence_plot,
    save_png,
    score_distribution_plot,
    steering_effects_plot,
    steering_results_plot,
    vocab_frequency_plot,
)

__all__ = ["diff_presence_plot", "save_png", "score_distribution_plot", "steering_effects_plot",
           "steering_results_plot",
           "vocab_frequency_plot"]
