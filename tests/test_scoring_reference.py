"""The one-pass engine (indicators, kernel, FeatureStats, ReasonScore, selection) against a slow reference.

The reference below is written independently from the paper's definitions with plain Python loops
over tokens and features; the engine must agree with it on random inputs.
"""

from __future__ import annotations

import math
import random

import pytest
import torch

from tl_reasoning.scoring.kernels import accumulate, log_bin_edges
from tl_reasoning.scoring.reason_score import reason_score
from tl_reasoning.scoring.result import score_stats
from tl_reasoning.scoring.windows import token_indicators, valid_tokens
from tl_reasoning.stats import FeatureStats
from tl_reasoning.vocab import ExpandedVocabulary, TokenVariant

VOCAB = ExpandedVocabulary(["a", "bc", "d"], [TokenVariant(0, "a", (4,)), TokenVariant(1, "bc", (5, 6)),
                                              TokenVariant(2, "d", (7,)), TokenVariant(2, "ef", (8, 9))])
SPECIAL = (1, 2, 0)


def _random_batch(seed, batch=5, seq=24, n_feat=12):
    rng = random.Random(seed)
    ids, attn = [], []
    for _ in range(batch):
        length = rng.randint(2, seq)
        row = [1] + [rng.randint(3, 9) for _ in range(length - 1)]
        if rng.random() < 0.3:
            row[rng.randrange(1, length)] = 2  # a stray EOS inside the text
        ids.append(row + [0] * (seq - length))
        attn.append([1] * length + [0] * (seq - length))
    gen = torch.Generator().manual_seed(seed)
    acts = torch.rand(batch, seq, n_feat, generator=gen, dtype=torch.float64) * 3
    acts *= torch.rand(batch, seq, n_feat, generator=gen) < 0.4
    return ids, attn, acts


def _reference_stats(ids, attn, acts, window):
    """Per-feature sums by brute force: python loops over rows, tokens, groups and features."""
    before, after = window
    n_groups, n_feat = len(VOCAB.words), acts.shape[-1]
    sums = {k: [0.0] * n_feat for k in ("window", "other", "matched", "sq_window", "sq_other")}
    word_sums = [[0.0] * n_feat for _ in range(n_groups)]
    counts = {"window": 0, "other": 0, "matched": 0}
    word_counts = [0] * n_groups
    max_act = [0.0] * n_feat
    for r, row in enumerate(ids):
        valid = [attn[r][t] == 1 and row[t] not in SPECIAL for t in range(len(row))]
        marked = [set() for _ in range(n_groups)]
        for v in VOCAB.variants:
            for p in range(len(row) - len(v.ids) + 1):
                if all(row[p + k] == v.ids[k] and valid[p + k] for k in range(len(v.ids))):
                    marked[v.group].update(range(p, p + len(v.ids)))
        for t in range(len(row)):
            if not valid[t]:
                continue
            in_group = [any(q - before <= t <= q + after for q in marked[g]) for g in range(n_groups)]
            in_window = any(in_group)
            is_matched = any(t in marked[g] for g in range(n_groups))
            counts["window" if in_window else "other"] += 1
            counts["matched"] += is_matched
            for g in range(n_groups):
                word_counts[g] += in_group[g]
            for i in range(n_feat):
                a = float(acts[r, t, i])
                max_act[i] = max(max_act[i], a)
                key = "window" if in_window else "other"
                sums[key][i] += a
                sums["sq_" + key][i] += a * a
                if is_matched:
                    sums["matched"][i] += a
                for g in range(n_groups):
                    if in_group[g]:
                        word_sums[g][i] += a
    return sums, counts, word_sums, word_counts, max_act


def _reference_scores(sums, counts, word_sums, word_counts, alpha, eps=1e-12):
    n_feat = len(sums["window"])
    mean_w = [s / max(counts["window"], 1) for s in sums["window"]]
    mean_o = [s / max(counts["other"], 1) for s in sums["other"]]
    total_w, total_o = sum(mean_w), sum(mean_o)
    scores = []
    for i in range(n_feat):
        means = [word_sums[g][i] / max(word_counts[g], 1) for g in range(len(word_sums))]
        entropy = 0.0
        for m in means:
            p = m / (sum(means) + eps)
            if p > 0:
                entropy -= p * math.log(p)
        entropy /= math.log(len(means))
        scores.append(mean_w[i] / (total_w + eps) * entropy ** alpha - mean_o[i] / (total_o + eps))
    return scores


def _engine_stats(ids, attn, acts, window, chunk=7):
    ids_t, attn_t = torch.tensor(ids), torch.tensor(attn)
    valid = valid_tokens(ids_t, attn_t, SPECIAL)
    ind = token_indicators(ids_t, valid, VOCAB, window).reshape(-1, len(VOCAB.words) + 3)
    flat = acts.reshape(-1, acts.shape[-1]).float()
    stats = FeatureStats.empty(VOCAB.words, acts.shape[-1], hist_edges=log_bin_edges())
    for start in range(0, flat.shape[0], chunk):  # whole padded rows: the kernel must skip uncounted ones
        stats.add_(accumulate(flat[start:start + chunk], ind[start:start + chunk], stats.hist_edges))
    return stats


@pytest.mark.parametrize(("seed", "window"), [(0, (1, 2)), (1, (2, 3)), (2, (0, 0)), (3, (4, 1))])
def test_engine_matches_slow_reference(seed, window):
    ids, attn, acts = _random_batch(seed)
    sums, counts, word_sums, word_counts, max_act = _reference_stats(ids, attn, acts, window)
    stats = _engine_stats(ids, attn, acts, window)
    close = dict(rtol=1e-5, atol=1e-5)
    assert int(stats.count_window) == counts["window"] and int(stats.count_other) == counts["other"]
    assert int(stats.count_matched) == counts["matched"] and stats.count_word.tolist() == word_counts
    torch.testing.assert_close(stats.sum_window, torch.tensor(sums["window"], dtype=torch.float64), **close)
    torch.testing.assert_close(stats.sum_other, torch.tensor(sums["other"], dtype=torch.float64), **close)
    torch.testing.assert_close(stats.sum_matched, torch.tensor(sums["matched"], dtype=torch.float64), **close)
    torch.testing.assert_close(stats.sumsq_window, torch.tensor(sums["sq_window"], dtype=torch.float64), **close)
    torch.testing.assert_close(stats.sumsq_other, torch.tensor(sums["sq_other"], dtype=torch.float64), **close)
    torch.testing.assert_close(stats.sum_word, torch.tensor(word_sums, dtype=torch.float64), **close)
    torch.testing.assert_close(stats.max_activation, torch.tensor(max_act, dtype=torch.float64), **close)
    n_active = int(((acts > 0) & torch.tensor([[a == 1 and i not in SPECIAL for a, i in zip(ra, ri, strict=True)]
                                               for ra, ri in zip(attn, ids, strict=True)])[..., None]).sum())
    assert int(stats.hist.sum()) == n_active
    for alpha in (0.7, 1.0):
        ref = _reference_scores(sums, counts, word_sums, word_counts, alpha)
        torch.testing.assert_close(reason_score(stats, alpha=alpha).double(), torch.tensor(ref, dtype=torch.float64),
                                   rtol=1e-5, atol=1e-9)


def test_selection_is_score_above_the_quantile():
    ids, attn, acts = _random_batch(5, batch=8, n_feat=40)
    stats = _engine_stats(ids, attn, acts, (1, 2))
    result = score_stats(stats, alpha=0.7, quantile=0.9)
    scores = sorted(result.scores.tolist())
    pos = 0.9 * (len(scores) - 1)
    tau = scores[int(pos)] + (scores[int(pos) + 1] - scores[int(pos)]) * (pos - int(pos))
    assert result.threshold == pytest.approx(tau)
    expected = {i for i, s in enumerate(result.scores.tolist()) if s > tau}
    assert set(result.selected) == expected and len(expected) == 4
    assert result.table["rank"].tolist() == list(range(1, 41))
    assert result.table["reason_score"].is_monotonic_decreasing


def test_histogram_quantile_is_within_one_bin():
    gen = torch.Generator().manual_seed(0)
    acts = torch.exp(torch.randn(4000, 3, generator=gen, dtype=torch.float64)) * torch.tensor([0.01, 1.0, 50.0])
    acts[:1000, 0] = 0.0
    ind = torch.zeros(4000, 4, dtype=torch.bool)
    ind[:, 2] = True  # all "other" tokens (1 word group + 3 role columns)
    stats = FeatureStats.empty(["w"], 3, hist_edges=log_bin_edges())
    stats.add_(accumulate(acts, ind, stats.hist_edges))
    ratio = 10 ** (1 / 16)
    for q in (0.5, 0.9, 0.99):
        exact = torch.stack([torch.quantile(acts[acts[:, i] > 0, i], q) for i in range(3)])
        est = stats.activation_quantile(q)
        assert torch.all(est <= exact * ratio) and torch.all(est >= exact / ratio), (q, est, exact)
    with_zeros = stats.activation_quantile(0.2, active_only=False)
    assert with_zeros[0] == 0 and with_zeros[1] > 0
    assert torch.equal(stats.activation_quantile(1.0), stats.max_activation)
