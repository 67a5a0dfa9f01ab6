import torch

from tl_reasoning import FeatureStats
from tl_reasoning.plugins import get_registry, plugin_report


def _stats() -> FeatureStats:
    return FeatureStats(
        words=["wait", "hmm"],
        sum_window=torch.tensor([4.0, 0.0, 2.0]), count_window=torch.tensor(2),
        sum_other=torch.tensor([1.0, 3.0, 4.0]), count_other=torch.tensor(4),
        sum_word=torch.tensor([[2.0, 0.0, 1.0], [2.0, 0.0, 1.0]]), count_word=torch.tensor([1, 1]),
    )


def test_registered_through_entry_point():
    infos, failures = plugin_report()
    info = {i.name: i for i in infos}["contrast_scorers"]
    assert info.distribution == "tl-reasoning-contrast-scorers"
    assert sorted(info.registered["scorer"]) == ["log_ratio", "mean_difference"]
    assert not [f for f in failures if f.name == "contrast_scorers"]


def test_mean_difference_values():
    fn = get_registry("scorer").get("mean_difference").obj
    assert torch.allclose(fn(_stats()), torch.tensor([2.0 - 0.25, 0.0 - 0.75, 1.0 - 1.0]))


def test_log_ratio_orders_window_specific_first():
    fn = get_registry("scorer").get("log_ratio").obj
    scores = fn(_stats())
    assert scores.argmax().item() == 0 and scores.argmin().item() == 1
