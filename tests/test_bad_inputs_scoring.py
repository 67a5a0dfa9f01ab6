"""Bad inputs and faults on the scoring / statistics side (issue 17): each gives a non-zero exit with one
clear line on stderr (or a documented exception from the Python API), nothing half-written, and runs are
bit-reproducible on 2 threads."""

from __future__ import annotations

import errno
import json
import re

import pytest
import torch

from tl_reasoning.cli import main
from tl_reasoning.scoring import StatsConfig, collect_stats, score_stats
from tl_reasoning.scoring.kernels import accumulate
from tl_reasoning.scoring.outputs import OutputPathError
from tl_reasoning.stats import FeatureStats
from tl_reasoning.stats_checks import DegenerateStatsError, StatsFileError, StatsSaeMismatchError

DOCS = ["wait, let me check 12 + 5 = 17", "the cat sat on the mat", "but therefore hmm maybe", "alternatively",
        "hmm maybe the cat sat", "let me check the mat", "the cat sat on the mat but wait", "on the mat hmm"]


def _sae_dir(root, seed, *, nan=False):
    from sae_lens import SAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    torch.manual_seed(seed)
    meta = SAEMetadata(hook_name="blocks.1.hook_resid_post", model_name="tiny", hook_head_index=None)
    sae = SAE.from_dict(StandardSAEConfig(d_in=64, d_sae=256, metadata=meta).to_dict())
    if nan:
        with torch.no_grad():
            sae.W_enc[:, 3] = float("nan")
    sae.save_model(str(root))
    return root


def _inf_model_dir(src, dst):
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst)
    weights = dst / "model.safetensors"
    tensors = load_file(str(weights))
    key = next(k for k in tensors if k.endswith("embed_tokens.weight"))
    tensors[key] = torch.full_like(tensors[key], float("inf"))
    save_file(tensors, str(weights), metadata={"format": "pt"})
    return dst


@pytest.fixture(scope="module")
def ctx(tiny_model_dir, tiny_sae_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_inputs")

    def corpus(name, lines):
        path = root / name
        path.write_text("\n".join(json.dumps({"text": t}) for t in lines))
        return str(path)

    c = {"model": str(tiny_model_dir), "sae": str(tiny_sae_dir), "root": root,
         "good": corpus("good.jsonl", DOCS),
         "empty": str(root / "empty.txt"), "blank": corpus("blank.jsonl", ["   ", "\n\t", " "]),
         "novocab": corpus("novocab.jsonl", ["the cat sat on the mat", "12 + 5 = 17"] * 2),
         "allwindow": corpus("allwindow.jsonl", ["hmm the cat", "wait the mat", "but 12"] * 2),
         "long": corpus("long.jsonl", ["wait " + "the cat sat on the mat " * 40, *DOCS]),
         "other_sae": str(_sae_dir(root / "other_sae", 7)), "nan_sae": str(_sae_dir(root / "nan_sae", 1, nan=True)),
         "inf_model": str(_inf_model_dir(tiny_model_dir, root / "inf_llama")),
         "a_file": str(root / "a_file.txt")}
    (root / "empty.txt").write_text("")
    (root / "a_file.txt").write_text("x")
    c["scores"] = str(root / "scored")
    assert main(_score(c, "--out", c["scores"])) == 0
    edited = root / "edited"
    edited.mkdir()
    raw = (root / "scored" / "stats.safetensors").read_bytes()
    word = b'\\"words\\": [\\"alternatively\\"'  # the header is JSON inside safetensors' JSON
    assert word in raw
    (edited / "stats.safetensors").write_bytes(raw.replace(word, word.replace(b"alternatively", b"ALTERNATIVELY"), 1))  # same length
    c["edited"] = str(edited / "stats.safetensors")
    return c


def _score(c, *extra, data="good", model="model", sae="sae"):
    return ["score", "--model", c[model], "--sae", c[sae], "--data", c[data], "--backend", "hooked",
            "--batch-size", "4", "--max-docs", "8", "--no-progress", *extra]


# (id, argv from the context, pattern the one stderr line must match)
CASES = [
    ("empty-corpus", lambda c: _score(c, "--out", f"{c['root']}/o1", data="empty"), r"no documents|empty"),
    ("whitespace-corpus", lambda c: _score(c, "--out", f"{c['root']}/o2", data="blank"), r"empty or whitespace-only"),
    ("no-vocab-word", lambda c: _score(c, "--out", f"{c['root']}/o3", data="novocab"), r"no vocabulary word"),
    ("window-covers-all", lambda c: _score(c, "--window", "20,20", "--out", f"{c['root']}/o4", data="allwindow"),
     r"inside a reasoning-word window.*--window"),
    ("context-size-1", lambda c: _score(c, "--context-size", "1", "--out", f"{c['root']}/o5"), r"--context-size 1"),
    ("context-size-0", lambda c: _score(c, "--context-size", "0", "--out", f"{c['root']}/o6"), r"context_size"),
    ("context-over-model", lambda c: _score(c, "--context-size", "4096", "--out", f"{c['root']}/o7"),
     r"exceeds the model's context of 128"),
    ("max-docs-0", lambda c: _score(c, "--max-docs", "0", "--out", f"{c['root']}/o8"), r"--max-docs: expected a whole number >= 1"),
    ("batch-size-0", lambda c: _score(c, "--batch-size", "0", "--out", f"{c['root']}/o9"), r"--batch-size: expected a whole number >= 1"),
    ("alpha-nan", lambda c: _score(c, "--alpha", "nan", "--out", f"{c['root']}/o10"), r"--alpha"),
    ("alpha-negative", lambda c: _score(c, "--alpha", "-1", "--out", f"{c['root']}/o11"), r"--alpha"),
    ("quantile-out-of-range", lambda c: _score(c, "--quantile", "1.5", "--out", f"{c['root']}/o12"), r"--quantile"),
    ("quantile-nan", lambda c: _score(c, "--quantile", "nan", "--out", f"{c['root']}/o13"), r"--quantile"),
    ("nan-sae-codes", lambda c: _score(c, "--out", f"{c['root']}/o14", sae="nan_sae"),
     r"NaN SAE codes in document 0"),
    ("inf-residual", lambda c: _score(c, "--out", f"{c['root']}/o15", model="inf_model"),
     r"(NaN|infinite) residuals at blocks\.1\.hook_resid_post in document 0"),
    ("out-is-a-file", lambda c: _score(c, "--out", c["a_file"]), r"is a file, not a directory"),
    ("out-under-a-file", lambda c: _score(c, "--out", c["a_file"] + "/sub"), r"is a file, so no directory"),
    ("out-unwritable", lambda c: _score(c, "--out", "/proc/tl-reasoning-out"), r"cannot write in /proc"),
    ("stats-header-edited", lambda c: ["score", "--stats", c["edited"], "--out", f"{c['root']}/o16"],
     r"checksum mismatch"),
    ("rescore-out-is-a-file", lambda c: ["score", "--stats", c["scores"] + "/stats.safetensors", "--out", c["a_file"]],
     r"is a file"),
    ("dashboard-other-sae", lambda c: ["dashboard", "--model", c["model"], "--sae", c["other_sae"], "--scores",
                                       c["scores"], "--max-docs", "4", "--out", f"{c['root']}/d.html"],
     r"computed for SAE .*tiny_sae.*, not for .*other_sae"),
    ("dashboard-out-is-dir", lambda c: ["dashboard", "--model", c["model"], "--sae", c["sae"], "--scores", c["scores"],
                                        "--out", str(c["root"])], r"is a directory"),
    ("dashboard-top-0", lambda c: ["dashboard", "--model", c["model"], "--sae", c["sae"], "--scores", c["scores"],
                                   "--top", "0", "--out", f"{c['root']}/d2.html"], r"--top: expected a whole number >= 1"),
    ("diff-other-sae", lambda c: ["diff", "--sae", c["other_sae"], "--base-sae", c["sae"], "--scores", c["scores"],
                                  "--random", "0", "--no-figure", "--out", f"{c['root']}/diff"],
     r"computed for SAE .*tiny_sae.*, not for --sae .*other_sae"),
    ("diff-out-is-a-file", lambda c: ["diff", "--sae", c["sae"], "--base-sae", c["other_sae"], "--features", "1",
                                      "--out", c["a_file"]], r"is a file"),
    ("figures-out-is-a-file", lambda c: ["figures", "--scores", c["scores"], "--out", c["a_file"]], r"is a file"),
    ("figures-out-unwritable", lambda c: ["figures", "--scores", c["scores"], "--out", "/proc/tl-fig"],
     r"cannot write"),
]


@pytest.mark.parametrize(("argv", "pattern"), [pytest.param(a, p, id=i) for i, a, p in CASES])
def test_bad_input_fails_with_one_clear_line(ctx, capsys, argv, pattern):
    try:
        code = main(argv(ctx))
    except SystemExit as exc:  # refused by the option parser (exit 2), before anything loads
        code = exc.code
    err = capsys.readouterr().err
    # transformers' own weight-loading bar is not ours; everything else on stderr is the error
    lines = [line for line in err.strip().splitlines() if line.strip() and not line.startswith("Loading weights")]
    assert code != 0, err
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert re.search(pattern, lines[0]), lines[0]


def test_long_documents_are_truncated_and_counted(ctx, capsys):
    """The default context is the model's (128 here), not 1024: a long document no longer crashes."""
    out = ctx["root"] / "long_run"
    assert main(_score(ctx, "--out", str(out), data="long")) == 0
    assert "1 documents were longer than the context of 128 tokens" in capsys.readouterr().err
    meta = json.loads((out / "meta.json").read_text())
    assert meta["config"]["context_size"] == 128
    assert meta["truncated"]["docs"] == 1 and meta["truncated"]["tokens"] > 100


# -- Python API -------------------------------------------------------------------------------------------------

def test_f_max_from_stats_refuses_another_sae(ctx):
    from tl_reasoning import load_sae
    from tl_reasoning.steering.fmax import f_max_from_stats

    mine, other = load_sae(ctx["sae"]), load_sae(ctx["other_sae"])
    assert f_max_from_stats(ctx["scores"], [0, 1], sae=mine).shape == (2,)
    with pytest.raises(StatsSaeMismatchError, match="computed for SAE .*tiny_sae.*, not for organism"):
        f_max_from_stats(ctx["scores"], [0], sae=other, sae_name="organism")
    with pytest.raises(StatsSaeMismatchError, match="computed for SAE"):
        f_max_from_stats(FeatureStats.load(ctx["scores"] + "/stats.safetensors"), [0], sae=other)
    with pytest.raises(StatsSaeMismatchError, match="10 features but SAE"):
        f_max_from_stats(torch.ones(10), [0], sae=mine)
    with pytest.raises(StatsFileError, match="checksum mismatch"):
        f_max_from_stats(ctx["edited"], [0])


def test_api_degenerate_corpus_raises(models, ctx):
    from tl_reasoning import load_sae

    sae = load_sae(ctx["sae"])
    stats = collect_stats(models["hooked"], sae, ["the cat sat"], config=StatsConfig(max_docs=2))
    with pytest.raises(DegenerateStatsError, match="no vocabulary word"):
        score_stats(stats)
    assert len(score_stats(stats, check=False).table) == 256  # explicit opt-out still scores


def test_header_edit_changes_checksum(ctx, tmp_path):
    stats = FeatureStats.load(ctx["scores"] + "/stats.safetensors")
    stats.meta["sources"]["data"] = "elsewhere"
    path = stats.save(tmp_path / "s.safetensors")
    raw = path.read_bytes()
    assert b"elsewhere" in raw
    path.write_bytes(raw.replace(b"elsewhere", b"ELSEWHERE"))
    with pytest.raises(StatsFileError, match="checksum mismatch"):
        FeatureStats.load(path)


def test_full_disk_keeps_the_previous_checkpoint(ctx, tmp_path, monkeypatch):
    import safetensors.torch

    stats = FeatureStats.load(ctx["scores"] + "/stats.safetensors")
    path = stats.save(tmp_path / "stats.safetensors")
    before = path.read_bytes()

    def full_disk(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", full_disk)
    stats.meta["progress"]["docs_seen"] = 999
    with pytest.raises(OutputPathError, match="No space left on device.*previous file is kept"):
        stats.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.safetensors"]  # no temporary file left


# -- reproducibility on 2 threads ---------------------------------------------------------------------------------

@pytest.fixture
def two_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


def test_accumulate_is_bit_identical_on_two_threads(two_threads):
    gen = torch.Generator().manual_seed(0)
    acts = torch.relu(torch.randn(4096, 2048, generator=gen) - 1.5)
    ind = torch.zeros(4096, 4, dtype=torch.bool)
    window = torch.rand(4096, generator=gen) < 0.3
    ind[:, 0], ind[:, 1], ind[:, 2] = window, window, ~window
    first = accumulate(acts, ind)
    for _ in range(6):
        again = accumulate(acts, ind)
        for key in first:
            assert torch.equal(first[key], again[key]), key
    torch.set_num_threads(1)
    one = accumulate(acts, ind)
    assert torch.equal(one["sumsq"], first["sumsq"])  # the same bits at any thread count
    expected = torch.stack([(acts[window].double() ** 2).sum(0), (acts[~window].double() ** 2).sum(0)])
    torch.testing.assert_close(first["sumsq"].double(), expected, rtol=1e-5, atol=1e-4)


class _Killed(Exception):
    pass


def test_killed_and_resumed_equals_uninterrupted_on_two_threads(models, ctx, tmp_path, two_threads):
    from tl_reasoning import load_sae

    sae = load_sae(ctx["sae"])
    config = StatsConfig(batch_size=2, context_size=32)
    whole = collect_stats(models["hooked"], sae, DOCS, config=config, checkpoint=tmp_path / "whole.safetensors")
    ckpt = tmp_path / "stats.safetensors"

    def kill_after_3(stats, batches):
        if batches == 3:
            raise _Killed

    with pytest.raises(_Killed):
        collect_stats(models["hooked"], sae, DOCS, config=config, checkpoint=ckpt, checkpoint_every=2,
                      on_batch=kill_after_3)
    resumed = collect_stats(models["hooked"], sae, DOCS, config=config, checkpoint=ckpt, checkpoint_every=2)
    for name, tensor in whole.tensors().items():
        assert torch.equal(tensor, resumed.tensors()[name]), name
    assert score_stats(whole).table.to_csv() == score_stats(resumed).table.to_csv()


def test_steer_and_evaluate_refuse_stats_of_another_sae(tmp_path, capsys):
    """`score --sae organism-base --out A` then `steer --sae organism --stats A` must not use A's f_max."""
    from tl_reasoning.cli import main

    out = tmp_path / "base"
    assert main(["score", "--model", "organism-base", "--sae", "organism-base", "--data", "organism:reasoning",
                 "--max-docs", "4", "--out", str(out)]) == 0
    capsys.readouterr()
    steer = ["steer", "--model", "organism", "--sae", "organism", "--feature", "3", "--stats", str(out),
             "--prompt", "Question: What is 1 + 2?\n", "--max-new-tokens", "4"]
    assert main(steer) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "organism" in err and "SAE" in err
    evaluate = ["evaluate", "--model", "organism", "--sae", "organism", "--features", "3", "--stats", str(out),
                "--limit", "1", "--max-new-tokens", "4", "--out", str(tmp_path / "ev")]
    assert main(evaluate) == 1
    assert "SAE" in capsys.readouterr().err
