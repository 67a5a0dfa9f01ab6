"""Model diffing on planted SAEs: decoders with known shared, rotated and unshared directions."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from tl_reasoning.diffing import (
    Decoder,
    activation_frequencies,
    as_decoder,
    bootstrap_difference,
    cross_layer_presence,
    diff_presence,
    fisher_exact,
    load_candidates,
    match_decoders,
    sample_random_features,
    wilson_interval,
)
from tl_reasoning.diffing.matching import top_matches

D = 256  # random directions in 256-d have |cos| < 0.35 with overwhelming probability


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def _rotated(a: torch.Tensor, cos: float, g: torch.Generator, scale: float = 3.0) -> torch.Tensor:
    """A vector with exactly cosine ``cos`` to ``a`` (and another norm: cosines ignore norms)."""
    u = _unit(a.double())
    r = torch.randn(a.shape[-1], generator=g, dtype=torch.float64)
    r = _unit(r - (r @ u) * u)
    return (scale * (cos * u + math.sqrt(1 - cos * cos) * r)).float()


@pytest.fixture(scope="module")
def planted():
    """A: 200 features. B: 300 features; A's 0-39 copied (cos 1), 40-59 at cos 0.75, 60-79 at 0.65.

    B rows 100-179 hold the planted copies (A feature i -> B row 100 + i); the rest is random.
    """
    g = torch.Generator().manual_seed(0)
    a = torch.randn(200, D, generator=g)
    b = torch.randn(300, D, generator=g)
    for i in range(80):
        cos = 1.0 if i < 40 else (0.75 if i < 60 else 0.65)
        b[100 + i] = 0.5 * a[i] if cos == 1.0 else _rotated(a[i], cos, g)
    return a, b


def test_planted_presence_is_exact(planted):
    a, b = planted
    m = match_decoders(a, b, features=range(100))
    assert m.features.tolist() == list(range(100))
    assert m.n_present == 60 and m.fraction_present == pytest.approx(0.6)
    assert m.match[:80].tolist() == [100 + i for i in range(80)]
    assert torch.allclose(m.cosine[:40], torch.ones(40, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(m.cosine[40:60], torch.full((20,), 0.75, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(m.cosine[60:80], torch.full((20,), 0.65, dtype=torch.float64), atol=1e-5)
    assert float(m.cosine[80:].max()) < 0.5
    assert m.present.tolist() == [True] * 60 + [False] * 40
    frame = m.to_frame()
    assert list(frame.columns) == ["feature", "match", "cosine", "present"] and len(frame) == 100


def test_threshold_edges(planted):
    a, b = planted
    cos = float(match_decoders(a, b, features=[45]).cosine[0])
    assert bool(match_decoders(a, b, threshold=cos, features=[45]).present[0])  # >= is inclusive
    above = float(np.nextafter(cos, 2.0))
    assert not bool(match_decoders(a, b, threshold=above, features=[45]).present[0])
    assert match_decoders(a, b, threshold=0.6, features=range(100)).n_present == 80
    assert match_decoders(a, b, threshold=0.8, features=range(100)).n_present == 40
    assert match_decoders(a, b, threshold=-1.0, features=range(10)).n_present == 10
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        match_decoders(a, b, threshold=1.5)


@pytest.mark.parametrize("chunk", [3, 7, 64, 100_000])
def test_chunked_equals_unchunked(planted, chunk):
    a, b = planted
    full = _unit(a) @ _unit(b).T
    values, indices = full.max(dim=1)
    m = match_decoders(a, b, chunk=chunk)
    assert torch.equal(m.match, indices)
    assert torch.allclose(m.cosine, values.double(), atol=1e-5)
    top_v, top_i = top_matches(a[:20], b, k=5, chunk=chunk)
    ref_v, ref_i = full[:20].topk(5, dim=1)
    assert torch.equal(top_i, ref_i) and torch.allclose(top_v, ref_v, atol=1e-5)


def test_one_to_one_greedy_and_mutual():
    g = torch.Generator().manual_seed(1)
    b = torch.randn(5, D, generator=g)
    a = torch.stack([_rotated(b[0], 0.95, g), _rotated(b[0], 0.9, g), torch.randn(D, generator=g)])
    b[1] = _rotated(a[1], 0.8, g)  # a1's second choice
    best = match_decoders(a, b)
    assert best.match[:2].tolist() == [0, 0] and best.present[:2].tolist() == [True, True]
    greedy = match_decoders(a, b, one_to_one=True)
    assert greedy.method == "greedy" and greedy.match[:2].tolist() == [0, 1]
    assert greedy.cosine[1] == pytest.approx(0.8, abs=1e-5)
    assert greedy.present.tolist() == [True, True, False]
    mutual = match_decoders(a, b, one_to_one="mutual")
    assert mutual.mutual.tolist()[:2] == [True, False]
    assert mutual.present.tolist()[:2] == [True, False]
    assert "mutual" in mutual.to_frame().columns
    with pytest.raises(ValueError, match="one_to_one"):
        match_decoders(a, b, one_to_one="hungarian")


def _brute_greedy(a: torch.Tensor, b: torch.Tensor) -> list[int]:
    sims = _unit(a) @ _unit(b).T
    pairs = sorted((-float(sims[i, j]), i, j) for i in range(len(a)) for j in range(len(b)))
    match, used = [-1] * len(a), set()
    for _, i, j in pairs:
        if match[i] < 0 and j not in used:
            match[i], used = j, used | {j}
    return match


def test_greedy_is_exact_and_handles_more_features_than_targets():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(60, 6, generator=g), torch.randn(40, 6, generator=g)  # low d: many conflicts
    m = match_decoders(a, b, one_to_one="greedy", chunk=16)
    assert m.match.tolist() == _brute_greedy(a, b)
    assigned = m.match[m.match >= 0]
    assert assigned.numel() == 40 and assigned.unique().numel() == 40
    assert torch.isnan(m.cosine[m.match < 0]).all() and not m.present[m.match < 0].any()


def test_d_in_mismatch_names_both_widths():
    with pytest.raises(ValueError, match=r"d_in=64.*d_in=32.*same model width"):
        match_decoders(torch.randn(10, 64), torch.randn(10, 32))
    with pytest.raises(ValueError, match="same model width"):
        cross_layer_presence({"x": torch.randn(10, 64), "y": torch.randn(10, 32)}, {"x": [1]}, n_random=0)


def test_input_forms_agree(tiny_sae_dir):
    import warnings

    from tl_reasoning import SAEWeights, load_sae

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sae = load_sae(str(tiny_sae_dir))
    other = torch.randn(50, sae.W_dec.shape[1])
    ref = match_decoders(sae.W_dec.detach(), other, features=[3, 7, 9])
    for form in (sae, str(tiny_sae_dir), sae.W_dec.detach().numpy()):
        m = match_decoders(form, other, features=[3, 7, 9])
        assert torch.equal(m.match, ref.match) and torch.allclose(m.cosine, ref.cosine)
    subset = SAEWeights.from_sae(sae, [9, 3, 7])
    m = match_decoders(subset, other, features=[3, 7, 9])
    assert m.features.tolist() == [3, 7, 9] and torch.equal(m.match, ref.match)
    # Matching into a subset reports the subset's feature ids, not row positions.
    back = match_decoders(other, subset)
    assert set(back.match.tolist()) <= {3, 7, 9}
    with pytest.raises(ValueError, match="not among"):
        match_decoders(subset, other, features=[4])
    with pytest.raises(ValueError, match="out of range"):
        match_decoders(sae, other, features=[10_000])
    assert as_decoder(other, "named").name == "named" and isinstance(as_decoder(other), Decoder)
    with pytest.raises(TypeError, match="cannot read decoder"):
        as_decoder(object())


def test_random_baseline_is_deterministic_and_frequency_matched():
    cands = list(range(0, 50))
    one = sample_random_features(1000, 40, exclude=cands, seed=3)
    assert one == sample_random_features(1000, 40, exclude=cands, seed=3)
    assert one != sample_random_features(1000, 40, exclude=cands, seed=4)
    assert len(set(one)) == 40 and not set(one) & set(cands) and one == sorted(one)
    freq = np.full(1000, 1e-4)
    freq[:100] = np.linspace(0.3, 0.5, 100)  # candidates 0-49 and features 50-99 are dense
    matched = sample_random_features(1000, 40, exclude=cands, seed=3, frequencies=freq)
    assert all(50 <= f < 100 for f in matched)
    assert matched == sample_random_features(1000, 40, exclude=cands, seed=3, frequencies=freq)
    # More draws than dense features: the shortfall comes from the nearest frequency bins.
    assert len(set(sample_random_features(1000, 80, exclude=cands, seed=3, frequencies=freq))) == 80
    with pytest.raises(ValueError, match="only 950"):
        sample_random_features(1000, 951, exclude=cands)
    with pytest.raises(ValueError, match="d_sae=1000"):
        sample_random_features(1000, 5, exclude=cands, frequencies=freq[:10])


def test_activation_frequencies_from_stats():
    from tl_reasoning.stats import FeatureStats

    stats = FeatureStats.empty(["wait"], 4, hist_edges=torch.tensor([1.0]))
    stats.hist[:] = torch.tensor([[2.0, 1.0], [0.0, 0.0], [5.0, 5.0], [1.0, 0.0]], dtype=stats.hist.dtype)
    stats.count_other += 10
    assert activation_frequencies(stats).tolist() == pytest.approx([0.3, 0.0, 1.0, 0.1])
    with pytest.raises(ValueError, match="non-negative"):
        activation_frequencies([0.1, -1.0])


@pytest.fixture(scope="module")
def diffing_pair():
    """Reasoning SAE 400 features; base SAE copies all of them except candidates 0-29 (replaced)."""
    g = torch.Generator().manual_seed(5)
    reasoning = torch.randn(400, D, generator=g)
    base = reasoning.clone() * 2.0
    base[:30] = torch.randn(30, D, generator=g)
    base_extra = torch.randn(20, D, generator=g)  # base-only features 400-419
    return reasoning, torch.cat([base, base_extra])


def test_diff_presence_planted(diffing_pair, tmp_path):
    reasoning, base = diffing_pair
    result = diff_presence(list(range(30)), reasoning, base, n_random=100, seed=1)
    assert result.fraction() == 0.0 and result.fraction(group="random") == 1.0
    row = result.summary_frame().iloc[0]
    assert (row["n_candidates"], row["present_candidates"], row["n_random"], row["present_random"]) == (30, 0, 100, 100)
    assert row["difference"] == -1.0 and row["p_value"] < 1e-20 and row["random_baseline"] == "uniform"
    assert row["ci_low"] == 0.0 and 0.0 < row["ci_high"] < 0.2
    text = result.summary()
    assert "reasoning -> base" in text and "0/30" in text and "100/100" in text
    features = result.to_frame()
    assert len(features) == 130 and set(features["group"]) == {"candidate", "random"}
    assert not set(features.loc[features.group == "random", "feature"]) & set(range(30))
    # The same seed gives the same random features; another seed other ones.
    again = diff_presence(list(range(30)), reasoning, base, n_random=100, seed=1)
    assert again.settings["random_features"] == result.settings["random_features"]
    other = diff_presence(list(range(30)), reasoning, base, n_random=100, seed=2)
    assert other.settings["random_features"] != result.settings["random_features"]
    paths = result.save(tmp_path)
    for kind in ("json", "summary", "features", "matrix", "matrix_random", "figure"):
        assert paths[kind].is_file() and paths[kind].stat().st_size > 0
    data = json.loads(paths["json"].read_text())
    assert data["summary"][0]["fraction_candidates"] == 0.0 and data["matrix"]["candidates"]["base"]["reasoning"] is None
    assert len(pd.read_csv(paths["features"])) == 130
    assert paths["figure"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_diff_presence_reverse_direction_and_frequency_matching(diffing_pair):
    reasoning, base = diffing_pair
    freq = np.full(400, 1e-3)
    freq[:60] = 0.2
    result = diff_presence(list(range(30)), reasoning, base, n_random=20, frequencies=freq,
                           base_candidates=[400, 401, 402, 35], names=("R", "B"))
    assert result.direction("R", "B").random_kind == "frequency-matched"
    assert all(30 <= f < 60 for f in result.settings["random_features"]["R"])
    assert result.fraction("B", "R") == pytest.approx(0.25)  # only base feature 35 has a copy
    assert result.direction("B", "R").random_kind == "uniform"
    with pytest.raises(KeyError, match="computed"):
        result.direction("R", "R")


def test_cross_layer_presence_matrix():
    g = torch.Generator().manual_seed(7)
    l1 = torch.randn(120, D, generator=g)
    l2 = torch.randn(150, D, generator=g)
    l2[:20] = l1[:20]          # candidates 0-19 of L1: half (0-9) in L2 ...
    l2[20:30] = l1[20:30]
    l2[10:20] = torch.randn(10, D, generator=g)
    l2[30:70] = l1[30:70]      # ... random features of L1 partly in L2
    l3 = torch.randn(100, D, generator=g)
    l3[:5] = l1[:5]            # and a quarter of them in L3
    result = cross_layer_presence({"L1": l1, "L2": l2, "L3": l3}, {"L1": list(range(20)), "L3": [0, 1, 50]},
                                  n_random=0)
    matrix = result.matrix()
    assert matrix.shape == (3, 3) and list(matrix.index) == ["L1", "L2", "L3"]
    assert matrix.loc["L1", "L2"] == pytest.approx(0.5) and matrix.loc["L1", "L3"] == pytest.approx(0.25)
    assert matrix.loc["L3", "L1"] == pytest.approx(2 / 3) and matrix.loc["L3", "L2"] == pytest.approx(2 / 3)
    assert math.isnan(matrix.loc["L1", "L1"]) and matrix.loc["L2"].isna().all()
    features = result.to_frame()
    assert len(features) == 20 * 2 + 3 * 2
    l1_l2 = features[(features.source == "L1") & (features.target == "L2")]
    assert l1_l2.loc[l1_l2.present, "match"].tolist() == list(range(10))
    assert "-" in result.summary()  # no random baseline: dashes
    fig = result.figure()
    assert len(fig.axes) >= 1 + 4
    restricted = cross_layer_presence({"L1": l1, "L2": l2, "L3": l3}, {"L1": list(range(20))}, targets=["L3"],
                                      n_random=10)
    assert [(d.source, d.target) for d in restricted.directions] == [("L1", "L3")]
    with pytest.raises(ValueError, match="not among the SAEs"):
        cross_layer_presence({"L1": l1}, {"L9": [1]})


def test_load_candidates(tmp_path):
    table = pd.DataFrame({"feature": [9, 4, 7, 2], "reason_score": [0.1, 0.9, 0.5, 0.0], "rank": [3, 1, 2, 4],
                          "selected": [False, True, True, False]})
    assert load_candidates(table) == [4, 7]
    assert load_candidates(table, top=3) == [4, 7, 9]
    table.to_csv(tmp_path / "scores.csv", index=False)
    assert load_candidates(tmp_path) == [4, 7] and load_candidates(tmp_path / "scores.csv", top=1) == [4]
    assert load_candidates(None, features=[5, 5, 1]) == [5, 1]
    assert load_candidates([3, 1]) == [3, 1]
    with pytest.raises(ValueError, match="--top N"):
        load_candidates(table.assign(selected=False))
    with pytest.raises(FileNotFoundError):
        load_candidates(tmp_path / "missing")
    with pytest.raises(ValueError, match="integer"):
        load_candidates([1.5])


def test_intervals():
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    assert fisher_exact(8, 10, 1, 6) == pytest.approx(0.03497, abs=1e-4)  # R: fisher.test(matrix(c(8,2,1,5),2))
    assert fisher_exact(5, 10, 5, 10) == pytest.approx(1.0)
    d_lo, d_hi = bootstrap_difference(30, 100, 10, 100, seed=0)
    assert d_lo < 0.2 < d_hi and d_lo > 0
    assert bootstrap_difference(30, 100, 10, 100, seed=0) == (d_lo, d_hi)


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux only")
def test_memory_stays_bounded():
    """8192 x 8192 features: the full cosine matrix would be 256 MiB; chunked matching adds a few MiB."""
    script = (
        "import resource, torch\n"
        "from tl_reasoning.diffing import match_decoders\n"
        "torch.set_num_threads(1)\n"
        "g = torch.Generator().manual_seed(0)\n"
        "a, b = torch.randn(8192, 32, generator=g), torch.randn(8192, 32, generator=g)\n"
        "match_decoders(a[:8], b, chunk=512)\n"  # warm-up: allocator and kernels
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "m = match_decoders(a, b, chunk=512)\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print((after - before) / 1024, len(m))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    grown_mib, n = out.stdout.split()
    assert int(n) == 8192
    assert float(grown_mib) < 64, f"peak memory grew by {grown_mib} MiB"
