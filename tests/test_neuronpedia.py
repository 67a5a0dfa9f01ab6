"""Neuronpedia support: ids and links, dashboard descriptions, and the export formats (no network)."""

from __future__ import annotations

import argparse
import copy
import json
from html.parser import HTMLParser

import pytest
import torch

from tests.browser.organism import N_DOCS, organism_setup

EVIL = "<script>window.PWNED=1</script>"
NP_ID = "gpt2-small/0-res-jb"


@pytest.fixture(scope="module")
def organism():
    return organism_setup()


@pytest.fixture(scope="module")
def sae_with_id(organism):
    sae = copy.deepcopy(organism[1])
    sae.cfg.metadata.neuronpedia_id = NP_ID
    return sae


@pytest.fixture(scope="module")
def scores_dir(organism, tmp_path_factory):
    path = tmp_path_factory.mktemp("np") / "scores"
    organism[2].save(path)
    return path


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a" and dict(attrs).get("href", "").startswith("http"):
            self.links.append(dict(attrs))


def _links(html: str) -> list[dict[str, str | None]]:
    parser = _Links()
    parser.feed(html)
    return parser.links


def test_neuronpedia_id_and_feature_url(organism, sae_with_id, tmp_path):
    import tl_reasoning
    from tl_reasoning.neuronpedia import feature_url, neuronpedia_id
    from tl_reasoning.neuronpedia.ids import resolve_ids, split_source

    sae = organism[1]
    assert neuronpedia_id(sae) is None and feature_url(sae, 3) is None
    assert neuronpedia_id(sae_with_id) == NP_ID
    assert feature_url(sae_with_id, 14057) == "https://www.neuronpedia.org/gpt2-small/0-res-jb/14057"
    assert feature_url(NP_ID, 7) == "https://www.neuronpedia.org/gpt2-small/0-res-jb/7"
    sae_with_id.save_model(str(tmp_path / "sae"))  # the id travels in cfg.json's metadata
    assert neuronpedia_id(tl_reasoning.load_sae(tmp_path / "sae")) == NP_ID
    odd = copy.deepcopy(sae)
    odd.cfg.metadata.neuronpedia_id = "no-slash"
    assert neuronpedia_id(odd) is None
    assert resolve_ids(sae_with_id) == ("gpt2-small", "0-res-jb")
    assert resolve_ids(sae, "organism", "3-tlr-res") == ("organism", "3-tlr-res")
    assert split_source("12-gemmascope-res-16k") == (12, "gemmascope-res-16k")
    with pytest.raises(ValueError, match="--model-id and --source-id"):
        resolve_ids(sae)
    with pytest.raises(ValueError, match="'<layer>-<set>'"):
        resolve_ids(sae, "organism", "tlr-res")


def _explanations_file(tmp_path, feature, schema="tl-reasoning/explanations/v1"):
    data = {"schema": schema, "explainer": "openai", "model": "gpt-4o", "sae": "organism", "sae_hash": None,
            "features": [{"feature": feature, "description": f"fires before a re-check {EVIL}",
                          "labels": ["reflection", EVIL], "confidence": 0.7,
                          "group": "Self-Correction & Backtracking", "parsed": True}]}
    path = tmp_path / "interpret" / "explanations.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_dashboard_links_and_descriptions(organism, sae_with_id, tmp_path):
    from tl_reasoning.dashboard import feature_dashboard

    model, sae, result = organism
    features = [int(f) for f in result.table["feature"].head(2)]
    path = _explanations_file(tmp_path, features[0])
    kwargs = {"features": features, "max_docs": 10, "contexts": 2, "model_name": "organism", "sae_name": "organism"}
    plain = feature_dashboard(model, sae, result, "organism:reasoning", **kwargs).html
    body = plain[plain.index("<body"):]
    assert not _links(plain) and "neuronpedia" not in body.lower() and "class='tlr-description'" not in body

    html = feature_dashboard(model, sae_with_id, result, "organism:reasoning", explanations=path.parent, **kwargs).html
    links = _links(html)
    urls = [a["href"] for a in links]
    for f in features:  # nav and section
        assert urls.count(f"https://www.neuronpedia.org/{NP_ID}/{f}") == 2
    assert f"https://www.neuronpedia.org/{NP_ID}" in urls  # the header names where the links go
    assert all(a.get("target") == "_blank" and a.get("rel") == "noopener" for a in links)
    assert EVIL not in html and "&lt;script&gt;window.PWNED=1&lt;/script&gt;" in html
    assert html.count("<div class='tlr-description'>") == 1
    section = html[html.index(f"id='feature-{features[0]}'"):html.index(f"id='feature-{features[1]}'")]
    assert "Self-Correction &amp; Backtracking" in section and "0.70" in section and "openai gpt-4o" in section
    assert section.index("tlr-description") < section.index("tlr-score")  # near the top of the section

    from_dict = feature_dashboard(model, sae, result, "organism:reasoning", explanations={features[1]: "a <b>"},
                                  **kwargs).html
    later = from_dict[from_dict.index(f"id='feature-{features[1]}'"):]
    assert "a &lt;b&gt;" in later and from_dict.count("<div class='tlr-description'>") == 1


def test_wrong_explanations_file_is_one_line_error(organism, tmp_path):
    from tl_reasoning.dashboard import feature_dashboard
    from tl_reasoning.dashboard.descriptions import load_explanations

    bad = _explanations_file(tmp_path, 1, schema="tl-reasoning/evidence/v1")
    with pytest.raises(ValueError, match="not a tl-reasoning explanations file") as info:
        feature_dashboard(*organism[:2], organism[2], "organism:reasoning", features=[1], explanations=bad)
    assert "\n" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="tl-reasoning interpret"):
        load_explanations(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="not a feature index"):
        load_explanations({"x": "text"})
    assert load_explanations({3: "text"})[3]["description"] == "text"


def test_export_round_trip(organism, tmp_path):
    from tl_reasoning.neuronpedia import export_neuronpedia
    from tl_reasoning.visualizations import gather_top_contexts, logit_lens

    model, sae, result = organism
    features = [int(f) for f in result.table["feature"].head(3)]
    path = _explanations_file(tmp_path, features[1])
    out = tmp_path / "export"
    kwargs = {"top": 3, "contexts": 4, "window": (6, 3), "max_docs": N_DOCS, "model_id": "organism",
              "source_id": "3-tlr-res"}
    done = export_neuronpedia(model, sae, result, "organism:reasoning", out, explanations=path, **kwargs)
    assert done.files == ["batch-0.json", "explanations.jsonl", "manifest.json"]
    batch = json.loads((out / "batch-0.json").read_text())
    assert (batch["model_id"], batch["layer"], batch["sae_set"]) == ("organism", 3, "tlr-res")
    assert [f["feature_index"] for f in batch["features"]] == features
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["validated_with"].startswith("neuronpedia ") and manifest["features"] == features
    assert "decoder_weights_dist" in manifest["not_filled"]

    gathered = gather_top_contexts(model, sae, "organism:reasoning", features, k=4, window=(6, 3), max_docs=N_DOCS)
    lenses = logit_lens(model, sae, features, k=10)
    stats = result.stats
    for record, lens in zip(batch["features"], lenses, strict=True):
        f = record["feature_index"]
        expected = gathered.contexts(f)
        assert len(record["activations"]) == len(expected) > 0
        for act, ctx in zip(record["activations"], expected, strict=True):
            assert act["tokens"] == ctx["tokens"] and act["values"] == pytest.approx(ctx["values"], abs=1e-6)
            assert act["values"][act["qualifying_token_index"]] == pytest.approx(ctx["value"], abs=1e-6)
            assert act["bin_max"] == pytest.approx(expected[0]["value"])
        assert record["pos_str"] == [t for t, _ in lens.promoted]
        assert record["neg_str"] == [t for t, _ in lens.suppressed]
        assert record["neg_values"] == pytest.approx([v for _, v in lens.suppressed]) and record["neg_values"][0] < 0
        assert record["frac_nonzero"] == pytest.approx(float(stats.hist[f].sum()) / stats.tokens_seen)
        assert sum(record["freq_hist_data_bar_heights"]) == float(stats.hist[f].sum())
        assert sum(record["logits_hist_data_bar_heights"]) == model.cfg.d_vocab
    rows = [json.loads(line) for line in (out / "explanations.jsonl").read_text().splitlines()]
    assert rows == [{"modelId": "organism", "layer": "3-tlr-res", "index": str(features[1]),
                     "description": f"fires before a re-check {EVIL}", "typeName": "tl-reasoning-interpret",
                     "explanationModelName": "gpt-4o"}]

    with pytest.raises(ValueError, match="--overwrite"):
        export_neuronpedia(model, sae, result, "organism:reasoning", out, **kwargs)
    again = export_neuronpedia(model, sae, result, "organism:reasoning", out, overwrite=True, **kwargs)
    assert again.files == ["batch-0.json", "manifest.json"] and not (out / "explanations.jsonl").exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="not a tl-reasoning Neuronpedia export"):
        export_neuronpedia(model, sae, result, "organism:reasoning", tmp_path / "other", overwrite=True, **kwargs)
    with pytest.raises(ValueError, match="--model-id and --source-id"):
        export_neuronpedia(model, sae, result, "organism:reasoning", tmp_path / "new", top=1)


def test_vectors_are_the_unit_directions(organism, sae_with_id, tmp_path):
    from tl_reasoning.neuronpedia import export_neuronpedia_vectors
    from tl_reasoning.units import unit_directions

    _, sae, result = organism
    features = [int(f) for f in result.table["feature"].head(2)]
    done = export_neuronpedia_vectors(sae_with_id, tmp_path / "v", scores=result, top=2, strength=2.0)
    records = json.loads((tmp_path / "v" / "vectors.json").read_text())
    directions = unit_directions(sae, features)
    f_max = result.stats.f_max(raw=True)
    for record, f, direction in zip(records, features, directions, strict=True):
        assert (record["model_id"], record["layer_num"], record["hook_type"]) == ("gpt2-small", 3, "hook_resid_post")
        assert torch.allclose(torch.tensor(record["vector"]), direction, atol=1e-6)
        assert record["default_steer_strength"] == pytest.approx(2.0 * float(f_max[f]), rel=1e-6)
        assert record["label"].startswith(f"feature {f}")
    assert done.manifest["validated_with"].startswith("neuronpedia ")
    bare = export_neuronpedia_vectors(sae, tmp_path / "bare", features=[features[0]], model_id="organism")
    assert json.loads((tmp_path / "bare" / "vectors.json").read_text())[0]["default_steer_strength"] is None
    assert bare.manifest["neuronpedia_id"] is None
    with pytest.raises(ValueError, match="--model-id"):
        export_neuronpedia_vectors(sae, tmp_path / "none", features=[1])


def test_vectors_from_a_saved_spec(organism, tmp_path):
    from tl_reasoning.directions import direction_steering
    from tl_reasoning.neuronpedia import export_neuronpedia_vectors
    from tl_reasoning.steering import feature_steering
    from tl_reasoning.steering.saved import save_steering
    from tl_reasoning.units import unit_directions

    _, sae, result = organism
    f = int(result.table["feature"].iloc[0])
    one = feature_steering(sae, [f], strength=1.5, f_max=10.0)
    two = feature_steering(sae, [f, f + 1], strength=1.0, f_max=[2.0, 3.0])
    vec = torch.randn(int(sae.cfg.d_in))
    direction = direction_steering(vec, "blocks.3.hook_resid_post", 0.5, positions="generated")
    spec = save_steering(tmp_path / "spec.json", [one, two, direction])
    export_neuronpedia_vectors(sae, tmp_path / "v", spec=spec, model_id="organism")
    records = json.loads((tmp_path / "v" / "vectors.json").read_text())
    dirs = unit_directions(sae, [f, f + 1])
    assert torch.allclose(torch.tensor(records[0]["vector"]), dirs[0], atol=1e-6)
    assert records[0]["default_steer_strength"] == pytest.approx(15.0)
    assert torch.allclose(torch.tensor(records[1]["vector"]), 2.0 * dirs[0] + 3.0 * dirs[1], atol=1e-5)
    assert torch.allclose(torch.tensor(records[2]["vector"]), vec, atol=1e-6)
    assert records[2]["default_steer_strength"] == pytest.approx(0.5)
    manifest = json.loads((tmp_path / "v" / "manifest.json").read_text())
    assert manifest["vectors"][2]["not_reproduced_by_neuronpedia"] == ["positions generated"]
    clamp = save_steering(tmp_path / "clamp.json", feature_steering(sae, [f], strength=1.0, mode="clamp", f_max=1.0))
    with pytest.raises(ValueError, match="mode 'add' only"):
        export_neuronpedia_vectors(sae, tmp_path / "c", spec=clamp, model_id="organism")


def test_export_command(scores_dir, tmp_path, capsys):
    from tl_reasoning.cli import export_cmd

    parser = argparse.ArgumentParser()
    export_cmd.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "cli"
    argv = ["export", "--format", "neuronpedia-vectors", "--sae", "organism", "--scores", str(scores_dir),
            "--top", "2", "--model-id", "organism", "--out", str(out)]
    args = parser.parse_args(argv)
    assert args.run(args) == 0
    assert len(json.loads((out / "vectors.json").read_text())) == 2
    with pytest.raises(ValueError, match="--overwrite"):
        args.run(parser.parse_args(argv))
    args = parser.parse_args(["export", "--sae", "organism", "--out", str(tmp_path / "x")])
    with pytest.raises(ValueError, match="needs --model, --scores"):
        args.run(args)
    capsys.readouterr()
    args = parser.parse_args(["export", "--model", "organism", "--sae", "organism", "--scores", str(scores_dir),
                              "--features", "5,9", "--max-docs", "5", "--contexts", "2", "--model-id", "organism",
                              "--source-id", "3-tlr-res", "--out", str(tmp_path / "batches")])
    assert args.run(args) == 0
    assert "checked with neuronpedia" in capsys.readouterr().err
    batch = json.loads((tmp_path / "batches" / "batch-0.json").read_text())
    assert [f["feature_index"] for f in batch["features"]] == [5, 9] and batch["features"][0]["n_prompts_total"] == 5
