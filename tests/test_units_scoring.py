"""Scoring units: activations are folded by ‖d_i‖, d_i = decode(e_i) − decode(0), exactly sae-lens's fold.

Four random sae-lens SAEs (plain ReLU, TopK with ``rescale_acts_by_decoder_norm``, JumpReLU, and one with
``normalize_activations="expected_average_only_in"``): unit directions against ``decode`` by hand, the
one-pass statistics against the statistics of a folded copy, and old-convention files refused.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch

from tests.conftest import D_MODEL
from tl_reasoning.scoring import StatsConfig, collect_stats, injection_test, score_stats
from tl_reasoning.scoring.collect import decoder_norms
from tl_reasoning.stats import FeatureStats, StatsUnitsError
from tl_reasoning.units import UNITS, unit_directions, unit_norms

D_SAE = 96
DOCS = [
    "wait, let me check 12 + 5 = 17", "the cat sat on the mat", "but therefore hmm maybe", "alternatively",
    "hmm maybe the cat sat", "let me check the mat", "the cat sat on the mat but wait", "12 + 5 = 17 therefore",
    "maybe alternatively the mat", "wait wait let me", "on the mat hmm", "the cat",
]
CONFIG = StatsConfig(batch_size=4, context_size=32)
KINDS = ["relu", "topk_rescaled", "jumprelu", "normalised"]
SUMS = ("sum_window", "sum_other", "sum_word", "sum_matched", "sumsq_window", "sumsq_other", "max_activation")


def _sae(kind: str, **extra):
    from sae_lens import SAE, JumpReLUSAEConfig, StandardSAEConfig, TopKSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    torch.manual_seed(KINDS.index(kind) if kind in KINDS else 7)
    meta = SAEMetadata(hook_name="blocks.1.hook_resid_post", model_name="tiny", hook_head_index=None)
    if kind == "topk_rescaled":
        cfg = TopKSAEConfig(d_in=D_MODEL, d_sae=D_SAE, k=12, rescale_acts_by_decoder_norm=True, metadata=meta)
    elif kind == "jumprelu":
        cfg = JumpReLUSAEConfig(d_in=D_MODEL, d_sae=D_SAE, metadata=meta)
    elif kind == "normalised":
        cfg = StandardSAEConfig(d_in=D_MODEL, d_sae=D_SAE, metadata=meta, apply_b_dec_to_input=True,
                                normalize_activations="expected_average_only_in")
    else:
        cfg = StandardSAEConfig(d_in=D_MODEL, d_sae=D_SAE, metadata=meta, **extra)
    sae = SAE.from_dict(cfg.to_dict())
    with torch.no_grad():
        sae.b_enc.normal_(0, 0.3)
        sae.b_dec.normal_(0, 0.5)  # decode(0) = b_dec ≠ 0
        sae.W_dec.mul_(torch.rand(D_SAE, 1) * 2.8 + 0.2)  # row norms spread over ~0.2–3
        if kind == "jumprelu":
            sae.threshold.uniform_(0.0, 0.3)
    return sae


def _by_hand(sae) -> torch.Tensor:
    with torch.no_grad():
        return (sae.decode(torch.eye(D_SAE)) - sae.decode(torch.zeros(1, D_SAE))).float()


@pytest.mark.parametrize("kind", KINDS)
def test_unit_directions_are_decode_of_one_hot_minus_decode_of_zero(kind):
    sae = _sae(kind)
    expected = _by_hand(sae)
    torch.testing.assert_close(unit_directions(sae), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(unit_directions(sae, [5, 0, 17]), expected[[5, 0, 17]], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(unit_norms(sae), expected.norm(dim=1), rtol=1e-5, atol=1e-6)
    rows = sae.W_dec.detach().float()
    closed = rows / rows.norm(dim=1, keepdim=True) if kind == "topk_rescaled" else rows
    torch.testing.assert_close(expected, closed, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(decoder_norms(sae), expected.norm(dim=1), rtol=1e-5, atol=1e-6)


def _folded(sae):
    folded = copy.deepcopy(sae)
    folded.fold_W_dec_norm()
    torch.testing.assert_close(unit_norms(folded), torch.ones(D_SAE), rtol=1e-5, atol=1e-5)
    return folded


@pytest.mark.parametrize("kind", KINDS)
def test_statistics_and_scores_equal_those_of_a_folded_copy(models, kind):
    sae = _sae(kind)
    model = models["hooked"]
    stats = collect_stats(model, sae, DOCS, config=CONFIG)
    ref = collect_stats(model, _folded(sae), DOCS, config=CONFIG)
    assert float(stats.max_activation.max()) > 0 and stats.count_window > 0
    for name in SUMS:
        torch.testing.assert_close(getattr(stats, name), getattr(ref, name), rtol=1e-4, atol=1e-5, msg=name)
    torch.testing.assert_close(stats.decoder_norm, unit_norms(sae).double(), rtol=1e-6, atol=1e-7)
    got, want = score_stats(stats, quantile=0.9), score_stats(ref, quantile=0.9)
    torch.testing.assert_close(got.scores, want.scores, rtol=1e-4, atol=1e-6)
    # raw f_max is in `sae.encode` units: the maximum of the unscaled run
    raw = collect_stats(model, sae, DOCS, config=StatsConfig(batch_size=4, context_size=32, decoder_norm=False))
    torch.testing.assert_close(stats.f_max(raw=True), raw.max_activation, rtol=1e-4, atol=1e-6)
    w_dec = sae.W_dec.detach().double().norm(dim=1)
    old_fold = raw.sum_window * w_dec  # the former ‖W_dec,i‖ fold
    if kind == "topk_rescaled":  # encode is already folded: the old fold counted ‖W_dec,i‖ twice
        assert not torch.allclose(old_fold, ref.sum_window, rtol=1e-2)
        torch.testing.assert_close(stats.sum_window, raw.sum_window, rtol=1e-6, atol=1e-8)
    else:
        torch.testing.assert_close(old_fold, ref.sum_window, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["relu", "topk_rescaled"])
def test_remote_encoder_top_contexts_and_injection_fold_by_unit_norms(models, kind):
    from tl_reasoning.remote.encoder import EncoderWeights, encode_dense
    from tl_reasoning.visualizations import gather_top_contexts

    sae = _sae(kind)
    x = 2 * torch.randn(40, D_MODEL)
    enc = EncoderWeights.from_sae(sae, scale=decoder_norms(sae))
    with torch.no_grad():
        expected = sae.encode(x).float() * _by_hand(sae).norm(dim=1)
    torch.testing.assert_close(encode_dense(enc, x), expected, rtol=1e-4, atol=1e-5)
    feats = [int(i) for i in torch.arange(0, D_SAE, 7)]
    scaled = gather_top_contexts(models["hooked"], sae, DOCS, feats, k=2, decoder_norm=True)
    raw = gather_top_contexts(models["hooked"], sae, DOCS, feats, k=2, decoder_norm=False)
    norms = unit_norms(sae)[feats]
    torch.testing.assert_close(scaled.values, raw.values * norms[:, None], rtol=1e-5, atol=1e-6)
    plain, reasoning = DOCS[1::2], DOCS[::2]
    inj = injection_test(models["hooked"], sae, feats, plain, reasoning, n_docs=6, context_size=32)
    inj_raw = injection_test(models["hooked"], sae, feats, plain, reasoning, n_docs=6, context_size=32,
                             decoder_norm=False)
    for column in ("mean_injected", "mean_reasoning_matched"):
        torch.testing.assert_close(torch.tensor(inj[column].to_numpy()).float(),
                                   torch.tensor(inj_raw[column].to_numpy()).float() * norms, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["layer_norm", "constant_norm_rescale"])
def test_per_token_normalisation_is_refused(models, mode):
    sae = _sae("other", normalize_activations=mode)
    with pytest.raises(ValueError, match=f"normalises each input \\(normalize_activations='{mode}'\\)"):
        unit_directions(sae)
    with pytest.raises(ValueError, match="normalises each input"):
        collect_stats(models["hooked"], sae, DOCS, config=CONFIG)


def _old_convention_copy(path, out):
    """The same statistics file with the header as the previous version wrote it (no units field)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from tl_reasoning.stats import FORMAT

    with safe_open(str(path), framework="pt") as f:
        header = json.loads(f.metadata()[FORMAT])
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    assert header.pop("units") == UNITS
    save_file(tensors, str(out), metadata={FORMAT: json.dumps(header)})
    return out


def _assert_rescore(excinfo) -> None:
    message = str(excinfo.value)
    assert "\n" not in message and "old unit convention" in message
    assert "rescore" in message and "tl-reasoning score ... --out DIR" in message


def test_old_convention_statistics_are_refused_with_the_rescore_message(models, tmp_path):
    from tl_reasoning.steering.fmax import f_max_from_stats

    sae = _sae("topk_rescaled")
    result = score_stats(collect_stats(models["hooked"], sae, DOCS, config=CONFIG), quantile=0.9)
    paths = result.save(tmp_path / "new")
    assert json.loads(paths["meta"].read_text())["units"] == UNITS
    assert FeatureStats.load(paths["stats"]).n_features == D_SAE  # files written now load
    old = _old_convention_copy(paths["stats"], tmp_path / "old.safetensors")
    for read in (FeatureStats.load, lambda p: f_max_from_stats(p, [0])):
        with pytest.raises(StatsUnitsError) as excinfo:
            read(old)
        _assert_rescore(excinfo)
    with pytest.raises(StatsUnitsError) as excinfo:  # an old checkpoint is not resumed
        collect_stats(models["hooked"], sae, DOCS, config=CONFIG, checkpoint=old)
    _assert_rescore(excinfo)


def test_old_convention_score_folders_are_refused(models, tmp_path):
    from tl_reasoning.dashboard import load_scores
    from tl_reasoning.diffing.presence import _score_table

    sae = _sae("relu")
    result = score_stats(collect_stats(models["hooked"], sae, DOCS, config=CONFIG), quantile=0.9)
    folder = tmp_path / "scores"
    result.save(folder, stats=False)
    assert len(load_scores(folder)[0]) == D_SAE and len(_score_table(folder)) == D_SAE
    meta = json.loads((folder / "meta.json").read_text())
    del meta["units"]
    (folder / "meta.json").write_text(json.dumps(meta))
    for read in (load_scores, _score_table, lambda p: _score_table(p / "scores.csv")):
        with pytest.raises(StatsUnitsError) as excinfo:
            read(folder)
        _assert_rescore(excinfo)
