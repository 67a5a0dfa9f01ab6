"""The one-pass engine on the tiny model: backends agree, shards merge, runs resume, limits hold."""

from __future__ import annotations

import random

import pytest
import torch

from tl_reasoning import backend_for, load_sae, score_features
from tl_reasoning.scoring import StatsConfig, collect_stats, injection_test, score_stats
from tl_reasoning.scoring.injection import inject_words
from tl_reasoning.stats import FeatureStats, StatsMismatchError
from tl_reasoning.vocab import expand_vocabulary

DOCS = [
    "wait, let me check 12 + 5 = 17", "the cat sat on the mat", "but therefore hmm maybe", "alternatively",
    "hmm maybe the cat sat", "let me check the mat", "the cat sat on the mat but wait", "12 + 5 = 17 therefore",
    "maybe alternatively the mat", "wait wait let me", "on the mat hmm", "the cat",
]


@pytest.fixture(scope="module")
def sae(tiny_sae_dir):
    return load_sae(tiny_sae_dir)


class _Killed(Exception):
    pass


def _tensors_equal(a: FeatureStats, b: FeatureStats, exact: bool = True) -> None:
    ta, tb = a.tensors(), b.tensors()
    assert ta.keys() == tb.keys()
    for key in ta:
        if exact:
            assert torch.equal(ta[key], tb[key]), key
        else:
            torch.testing.assert_close(ta[key], tb[key], rtol=1e-5, atol=1e-7, msg=key)


def test_backends_give_the_same_scores(models, sae):
    config = StatsConfig(batch_size=5, context_size=32)
    results = {name: score_stats(collect_stats(m, sae, DOCS, config=config), quantile=0.9)
               for name, m in models.items()}
    ref = results["hooked"].scores
    scale = ref.abs().max().item()
    for name in ("bridge", "nnsight"):
        torch.testing.assert_close(results[name].scores, ref, rtol=1e-4, atol=1e-4 * scale)
        assert results[name].stats.tokens_seen == results["hooked"].stats.tokens_seen
    assert results["hooked"].stats.count_window > 0 and results["hooked"].stats.count_other > 0


def test_counts_exclude_special_tokens_and_decoder_norm_scales(models, sae):
    backend = backend_for(models["hooked"])
    ids, attn = backend.tokenize(DOCS, max_length=32)
    specials = torch.tensor(sorted(backend.special_token_ids))
    expected_tokens = int((attn.bool() & ~torch.isin(ids, specials)).sum())
    scaled = collect_stats(models["hooked"], sae, DOCS, config=StatsConfig(batch_size=4, context_size=32))
    raw = collect_stats(models["hooked"], sae, DOCS, config=StatsConfig(batch_size=4, context_size=32,
                                                                        decoder_norm=False))
    assert scaled.tokens_seen == raw.tokens_seen == expected_tokens and scaled.docs_seen == len(DOCS)
    norms = sae.W_dec.detach().double().norm(dim=1)
    torch.testing.assert_close(scaled.sum_window, raw.sum_window * norms, rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(scaled.decoder_norm, norms)
    torch.testing.assert_close(scaled.f_max(raw=True), raw.max_activation, rtol=1e-5, atol=1e-7)


def test_shards_merge_into_one_run(models, sae):
    config = StatsConfig(batch_size=4, context_size=32)
    whole = collect_stats(models["hooked"], sae, DOCS, config=config)
    merged = collect_stats(models["hooked"], sae, DOCS[:8], config=config).merge(
        collect_stats(models["hooked"], sae, DOCS[8:], config=config))
    _tensors_equal(whole, merged, exact=False)
    assert merged.docs_seen == whole.docs_seen
    assert merged.meta["progress"]["fingerprint"] == whole.meta["progress"]["fingerprint"]
    torch.testing.assert_close(score_stats(merged).scores, score_stats(whole).scores)


def test_interrupted_run_resumes_to_identical_results(models, sae, tmp_path):
    config = StatsConfig(batch_size=2, context_size=32)
    whole = collect_stats(models["hooked"], sae, DOCS, config=config)
    ckpt = tmp_path / "stats.safetensors"

    def kill_after_3(stats, batches):
        if batches == 3:
            raise _Killed

    with pytest.raises(_Killed):
        collect_stats(models["hooked"], sae, DOCS, config=config, checkpoint=ckpt, checkpoint_every=2,
                      on_batch=kill_after_3)
    partial = FeatureStats.load(ckpt)
    assert partial.docs_seen == 4 and not partial.meta["progress"]["complete"]  # checkpoint of batch 2
    seen = []
    resumed = collect_stats(models["hooked"], sae, DOCS, config=config, checkpoint=ckpt, checkpoint_every=2,
                            on_batch=lambda s, b: seen.append(b))
    assert len(seen) == 4  # only the 8 remaining documents were run
    _tensors_equal(whole, resumed, exact=True)
    assert torch.equal(score_stats(resumed).scores, score_stats(whole).scores)
    assert FeatureStats.load(ckpt).meta["progress"]["complete"]


def test_resume_refuses_other_data_or_settings(models, sae, tmp_path):
    config = StatsConfig(batch_size=4, context_size=32, max_docs=4)
    ckpt = tmp_path / "stats.safetensors"
    collect_stats(models["hooked"], sae, DOCS, config=config, checkpoint=ckpt)
    with pytest.raises(StatsMismatchError, match="fingerprint"):
        collect_stats(models["hooked"], sae, DOCS[::-1], config=config, checkpoint=ckpt)
    with pytest.raises(StatsMismatchError, match="window"):
        collect_stats(models["hooked"], sae, DOCS, config=StatsConfig(window=(2, 3), batch_size=4, context_size=32),
                      checkpoint=ckpt)
    with pytest.raises(StatsMismatchError, match="vocab"):
        collect_stats(models["hooked"], sae, DOCS, vocab="wait", config=config, checkpoint=ckpt)
    fresh = collect_stats(models["hooked"], sae, DOCS[::-1], config=config, checkpoint=ckpt, resume=False)
    assert fresh.docs_seen == 4


def test_token_and_document_limits(models, sae):
    stats = collect_stats(models["hooked"], sae, DOCS, config=StatsConfig(batch_size=4, max_tokens=37))
    assert stats.tokens_seen == 37
    stats = collect_stats(models["hooked"], sae, DOCS, config=StatsConfig(batch_size=4, max_docs=5))
    assert stats.docs_seen == 5


def test_score_features_api(models, sae, tmp_path):
    result = score_features(models["hooked"], sae, DOCS, window=(2, 3), quantile=0.95, batch_size=4)
    table = result.table
    for column in ("feature", "reason_score", "rank", "mean_reasoning", "mean_other", "entropy", "selected",
                   "separability", "word_concentration", "matched_share"):
        assert column in table.columns
    assert len(table) == int(sae.cfg.d_sae) and table["rank"].iloc[0] == 1
    assert result.selected == table.loc[table["selected"], "feature"].tolist() and result.selected
    assert result.stats.meta["config"]["window"] == [2, 3]
    paths = result.save(tmp_path)
    assert sorted(p.name for p in paths.values()) == ["meta.json", "scores.csv", "stats.safetensors"]


def test_injected_words_sit_at_the_reported_positions(models):
    backend = backend_for(models["hooked"])
    vocab = expand_vocabulary(["wait", "let me"], backend.tokenizer)
    ids, positions = inject_words("the cat sat on the mat", vocab, backend.tokenizer, 2, random.Random(0))
    injected = backend.tokenizer.decode([ids[p] for p in positions])
    assert len(positions) >= 2 and set(injected.split()) <= {"wait", "Wait", "let", "Let", "me"}
    rest = [i for k, i in enumerate(ids) if k not in positions]
    assert backend.tokenizer.decode(rest).split() == "the cat sat on the mat".split()


def test_injection_test_reports_a_ratio_per_feature(models, sae):
    table = injection_test(models["hooked"], sae, [0, 5, 9], ["the cat sat on the mat", "on the mat"],
                           DOCS, n_docs=8, injections_per_doc=2)
    assert table["feature"].tolist() == [0, 5, 9]
    assert (table["n_injected"] > 0).all() and (table["n_matched"] > 0).all()
    ok = table["mean_reasoning_matched"] > 0
    torch.testing.assert_close(torch.tensor(table.loc[ok, "ratio"].to_numpy()),
                               torch.tensor((table.loc[ok, "mean_injected"] / table.loc[ok, "mean_reasoning_matched"])
                                            .to_numpy()))
