"""FeatureStats persistence and merging, and the control scorers on constructed cases."""

from __future__ import annotations

import math

import pytest
import torch

from tl_reasoning.plugins import get_registry
from tl_reasoning.scoring.fingerprint import DataFingerprint
from tl_reasoning.scoring.kernels import accumulate, log_bin_edges
from tl_reasoning.stats import FeatureStats, StatsFileError, StatsMismatchError


def _stats(seed: int, config: dict | None = None) -> FeatureStats:
    gen = torch.Generator().manual_seed(seed)
    acts = torch.rand(50, 6, generator=gen) * (torch.rand(50, 6, generator=gen) > 0.5)
    ind = torch.zeros(50, 5, dtype=torch.bool)  # 2 words + window, other, matched
    ind[:20, 0] = ind[10:30, 1] = ind[:30, 2] = True
    ind[30:, 3] = True
    ind[:5, 4] = True
    stats = FeatureStats.empty(["w0", "w1"], 6, hist_edges=log_bin_edges(),
                               meta={"config": config or {"window": [1, 2]}})
    stats.add_(accumulate(acts, ind, stats.hist_edges))
    fp = DataFingerprint()
    for i in range(3):
        fp = fp.add(f"doc {seed} {i}")
    stats.meta["progress"] = {"docs_seen": 3, "tokens_seen": stats.tokens_seen, "fingerprint": str(fp),
                              "complete": True}
    return stats


def _assert_same(a: FeatureStats, b: FeatureStats) -> None:
    ta, tb = a.tensors(), b.tensors()
    assert ta.keys() == tb.keys()
    for key in ta:
        torch.testing.assert_close(ta[key], tb[key], rtol=1e-12, atol=1e-12, msg=key)


def test_save_load_roundtrip(tmp_path):
    stats = _stats(0)
    path = stats.save(tmp_path / "stats.safetensors")
    loaded = FeatureStats.load(path, expect_config={"window": [1, 2]})
    _assert_same(stats, loaded)
    assert loaded.meta == stats.meta and loaded.words == stats.words
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary file was renamed away


def test_corrupted_files_are_refused(tmp_path):
    path = _stats(0).save(tmp_path / "stats.safetensors")
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # flip bits inside the tensor data
    (tmp_path / "flipped.safetensors").write_bytes(bytes(data))
    with pytest.raises(StatsFileError, match="checksum mismatch"):
        FeatureStats.load(tmp_path / "flipped.safetensors")
    (tmp_path / "truncated.safetensors").write_bytes(path.read_bytes()[:100])
    with pytest.raises(StatsFileError, match="corrupted or truncated"):
        FeatureStats.load(tmp_path / "truncated.safetensors")
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(StatsFileError, match="not tl-reasoning statistics"):
        FeatureStats.load(tmp_path / "other.safetensors")
    with pytest.raises(FileNotFoundError):
        FeatureStats.load(tmp_path / "missing.safetensors")


def test_mismatched_configuration_is_refused_naming_the_key(tmp_path):
    path = _stats(0).save(tmp_path / "stats.safetensors")
    with pytest.raises(StatsMismatchError, match=r"window=\[1, 2\].*window=\[2, 3\]"):
        FeatureStats.load(path, expect_config={"window": [2, 3]})
    with pytest.raises(StatsMismatchError, match="window"):
        _stats(0).merge(_stats(1, {"window": [2, 3]}))
    other_words = _stats(1)
    other_words.words = ["w0", "x"]
    with pytest.raises(StatsMismatchError, match="different words"):
        _stats(0).merge(other_words)


def test_merge_adds_sums_and_takes_the_maximum():
    a, b = _stats(0), _stats(1)
    merged = a.merge(b)
    torch.testing.assert_close(merged.sum_window, a.sum_window + b.sum_window)
    torch.testing.assert_close(merged.max_activation, torch.maximum(a.max_activation, b.max_activation))
    assert torch.equal(merged.hist, a.hist + b.hist)
    assert merged.tokens_seen == a.tokens_seen + b.tokens_seen and merged.docs_seen == 6
    fa, fb = (DataFingerprint.parse(s.meta["progress"]["fingerprint"]) for s in (a, b))
    assert merged.meta["progress"]["fingerprint"] == str(fa.merge(fb))
    assert torch.equal(a.sum_window, _stats(0).sum_window)  # inputs untouched


def test_fingerprint_is_order_free_and_mergeable():
    docs = ["a", "b", "c", "d"]
    one = DataFingerprint()
    for d in docs:
        one = one.add(d)
    left, right = DataFingerprint(), DataFingerprint()
    for d in docs[:1]:
        left = left.add(d)
    for d in docs[1:]:
        right = right.add(d)
    assert left.merge(right) == one == DataFingerprint.parse(str(one))
    assert DataFingerprint().add("a") != DataFingerprint().add("b")


def _constructed() -> FeatureStats:
    """3 features over 2 words: 0 separates perfectly, 1 is constant, 2 fires around one word only."""
    n_w, n_o = 4, 6
    window = torch.tensor([[2.0, 1.0, 3.0], [2.0, 1.0, 0.0], [4.0, 1.0, 3.0], [4.0, 1.0, 0.0]], dtype=torch.float64)
    other = torch.tensor([[1.0, 1.0, 0.0]] * n_o, dtype=torch.float64)
    stats = FeatureStats.empty(["x", "y"], 3)
    stats.sum_window, stats.sumsq_window = window.sum(0), (window ** 2).sum(0)
    stats.sum_other, stats.sumsq_other = other.sum(0), (other ** 2).sum(0)
    stats.count_window, stats.count_other = torch.tensor(n_w), torch.tensor(n_o)
    stats.sum_word = torch.stack([window[[0, 2]].sum(0), window[[1, 3]].sum(0)])  # word x: rows 0, 2
    stats.count_word = torch.tensor([2, 2])
    stats.sum_matched, stats.count_matched = window[[0, 1]].sum(0), torch.tensor(2)
    return stats


def test_separability_is_cohens_d():
    stats = _constructed()
    d = get_registry("scorer").get("separability").obj(stats)
    var_w = torch.tensor([4 / 3, 0.0, 3.0], dtype=torch.float64)  # sample variances of the window rows
    pooled = (3 * var_w + 5 * 0.0) / 8
    expected0 = (3.0 - 1.0) / math.sqrt(pooled[0])
    assert d[0].item() == pytest.approx(expected0)
    assert d[1].item() == 0.0  # equal means, no variance
    assert d[2].item() == pytest.approx(1.5 / math.sqrt(pooled[2]))


def test_word_concentration_and_matched_share():
    stats = _constructed()
    conc = get_registry("scorer").get("word_concentration").obj(stats)
    assert conc.tolist() == pytest.approx([0.5, 0.5, 1.0])  # feature 2 is a single-word detector
    share = get_registry("scorer").get("matched_share").obj(stats)
    assert share.tolist() == pytest.approx([4 / 12, 2 / 4, 3 / 6])
    empty = FeatureStats.empty(["x", "y"], 2)
    assert conc.dtype == torch.float64 and get_registry("scorer").get("word_concentration").obj(empty).tolist() == [0, 0]
