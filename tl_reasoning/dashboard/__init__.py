"""One self-contained HTML dashboard for many features (paper §8: contexts, logit lens, histogram)."""

from tl_reasoning.dashboard.build import Dashboard, feature_dashboard, load_scores

__all__ = ["Dashboard", "feature_dashboard", "load_scores"]
