"""``validate`` end to end: the run on the tiny fixtures, the result files and ``tl-reasoning validate``."""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path

import pytest
import torch

from tl_reasoning.validate.metrics import average_precision, precision, ranking_from_scores
from tl_reasoning.validate.run import GROUPS, ValidationConfig, ground_truth_for, validate
from tl_reasoning.validate.selectors import SELECTORS

from .conftest import TEXTS

ARTIFACTS = Path(__file__).resolve().parents[1] / "tl_reasoning" / "organism" / "artifacts"
TRUTH = ARTIFACTS / "ground_truth" / "truth.json"


@pytest.fixture(scope="module")
def tiny_run(models, tiny_sae_dir, tmp_path_factory):
    """A full (selection + causal) validation of the tiny model with a made-up ground truth."""
    from sae_lens import SAE

    from tl_reasoning import score_features
    from tl_reasoning.evaluation import load_eval_benchmark

    torch.manual_seed(0)
    model = models["hooked"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sae = SAE.load_from_disk(str(tiny_sae_dir))
    result = score_features(model, sae, TEXTS * 4, quantile=0.98)
    truth = {"saes": {"tiny": {"features": result.selected[:2] + [100, 101]}}, "direction": torch.randn(64)}
    config = ValidationConfig(problems=2, samples=1, rhos=(0.2, 0.8), positions=("all",), n_steer=2, n_random=2,
                              max_new_tokens=8, n_boot=100, calibration_prompts=4, output_contexts=4)
    out = validate(model, sae, result, truth, sae_name="tiny", contexts=TEXTS,
                   benchmark=load_eval_benchmark("organism", 2), config=config)
    return out, result, truth, tmp_path_factory.mktemp("validation")


def test_selection_table_matches_the_metrics(tiny_run):
    out, result, truth, _ = tiny_run
    gt = truth["saes"]["tiny"]["features"]
    table = out.selection.set_index("selector")
    assert list(table.index) == list(SELECTORS)
    assert (table["n_selected"] == len(result.selected)).all()
    assert table.loc["reason_score", "precision"] == pytest.approx(precision(result.selected, gt))
    assert table.loc["reason_score", "average_precision"] == pytest.approx(
        average_precision(ranking_from_scores(result.scores), gt))
    assert out.meta["n_ground_truth"] == 4 and out.meta["chance_precision"] == pytest.approx(4 / 256)


def test_dose_response_rows_and_measured_push(tiny_run):
    out, *_ = tiny_run
    dose = out.dose
    assert len(dose) == len(GROUPS) * 2
    assert set(dose["group"]) == set(GROUPS) and set(dose["rho"]) == {0.2, 0.8}
    assert dose.set_index("group").loc["random", "n_runs"].tolist() == [2, 2]
    # rho is converted to a strength per feature: the push measured while generating is the one asked
    ratio = dose["measured_rho"].astype(float) / dose["rho"].astype(float)
    assert ratio.between(0.8, 1.25).all(), dose[["group", "rho", "measured_rho"]]
    for column in ("thinking_tokens_rel", "word_rate_rel", "accuracy_diff"):
        assert {column, f"{column}_low", f"{column}_high"} <= set(dose.columns)
    assert out.evaluation is not None and "baseline" in set(out.evaluation.summary["condition"])


def test_result_files_and_text(tiny_run):
    out, _, _, folder = tiny_run
    paths = out.save(folder)
    assert {p.name for p in paths.values()} == {"validation.json", "validation.txt", "dose_response.png", "evaluation"}
    data = json.loads((folder / "validation.json").read_text())
    assert [r["selector"] for r in data["selection"]] == list(SELECTORS)
    assert len(data["dose_response"]) == len(out.dose)
    assert "NaN" not in (folder / "validation.json").read_text()  # undefined values are null
    text = (folder / "validation.txt").read_text()
    assert "average_precision" in text and "dose-response" in text and "oracle" in text
    assert (folder / "dose_response.png").read_bytes()[:4] == b"\x89PNG"


def test_no_causal_and_missing_ground_truth(models, tiny_sae_dir):
    from sae_lens import SAE

    from tl_reasoning import score_features

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sae = SAE.load_from_disk(str(tiny_sae_dir))
    result = score_features(models["hooked"], sae, TEXTS, quantile=0.98)
    truth = {"saes": {"tiny": {"features": []}}, "direction": torch.ones(64)}
    out = validate(models["hooked"], sae, result, truth, sae_name="tiny", contexts=TEXTS,
                   config=ValidationConfig(causal=False, output_contexts=2))
    assert out.dose.empty and "causal part skipped" in out.summary()
    assert all(math.isnan(v) for v in out.selection["recall"])  # no ground truth: undefined, not 0
    with pytest.raises(ValueError, match="no ground truth for SAE 'other'.*--sae"):
        ground_truth_for(truth, "other")


def _cli(capsys, *argv):
    from tl_reasoning.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["validate", *argv])
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize("argv, needle", [
    (["--rho", "0"], "--rho: expected a finite number > 0"),
    (["--rho", "nan"], "NaN and infinity are refused"),
    (["--problems", "0"], "--problems: expected a whole number >= 1"),
    (["--positions", "middle"], "--positions: invalid choice"),
])
def test_cli_refuses_bad_options_in_one_line(capsys, argv, needle):
    code, err = _cli(capsys, *argv)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_cli_without_ground_truth_names_the_fix(capsys):
    from tl_reasoning.cli import main

    code = main(["validate", "--sae", "organism-base", "--no-causal"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith("tl-reasoning validate: error:") and "tl_reasoning.organism.ground_truth" in err


def test_cli_config_quick_and_overrides():
    from tl_reasoning.cli import build_parser
    from tl_reasoning.cli.validate_cmd import config_from_args

    args = build_parser().parse_args(["validate", "--quick", "--rho", "0.2", "0.1", "0.2", "--positions", "all",
                                      "thinking", "--problems", "3"])
    config = config_from_args(args)
    assert config.rhos == (0.2, 0.1) and config.positions == ("all", "thinking") and config.problems == 3
    assert config.n_random == ValidationConfig.quick().n_random
    assert config_from_args(build_parser().parse_args(["validate"])).n_random >= 10


def test_relu_sae_registered_when_shipped():
    from tl_reasoning.plugins import get_registry

    names = set(get_registry("sae").names())
    assert ("organism-relu" in names) == (ARTIFACTS / "sae_organism_relu" / "cfg.json").is_file()


@pytest.mark.skipif(not TRUTH.is_file(), reason="needs the organism v3 ground truth "
                    "(tl_reasoning/organism/artifacts/ground_truth/truth.json), shipped with the v3 artifacts")
def test_cli_quick_on_the_organism(tmp_path, capsys):
    from tl_reasoning.cli import main

    start = time.perf_counter()
    code = main(["validate", "--quick", "--quiet", "--out", str(tmp_path)])
    seconds = time.perf_counter() - start
    out = capsys.readouterr().out
    assert code == 0, out
    assert "average_precision" in out and "dose-response" in out
    data = json.loads((tmp_path / "validation.json").read_text())
    truth = json.loads(TRUTH.read_text())
    assert data["meta"]["n_ground_truth"] == len(truth["saes"]["organism"]["features"])
    assert [r["selector"] for r in data["selection"]] == list(SELECTORS)
    groups = {r["group"] for r in data["dose_response"]}
    assert {"reason_score", "oracle", "random"} <= groups
    assert (tmp_path / "dose_response.png").is_file()
    print(f"quick validate on the organism: {seconds:.1f} s")
