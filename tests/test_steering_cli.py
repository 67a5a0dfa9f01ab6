"""``tl-reasoning steer``: JSON schema, side-by-side text, clear errors."""

from __future__ import annotations

import json

import pytest

from tl_reasoning.cli import main


def _args(model_dir, sae_dir, *extra):
    return ["steer", "--model", str(model_dir), "--sae", str(sae_dir), "--backend", "hooked", "--prompt",
            "wait, let me", "--max-new-tokens", "6", "--site", "blocks.0.hook_resid_post", *extra]


def test_steer_json_schema(tiny_model_dir, tiny_sae_dir, capsys):
    code = main(_args(tiny_model_dir, tiny_sae_dir, "--feature", "3", "--feature", "7", "--strength", "-6",
                      "--f-max", "3", "--f-max", "2", "--positions", "generated", "--json"))
    assert code == 0
    data = json.loads(capsys.readouterr().out)  # exactly one JSON object
    assert set(data) == {"baseline", "steered", "features", "mode", "positions", "push", "requested_rho"}
    assert data["push"]["rho"] > 0 and data["push"]["changed_tokens"] > 0 and data["requested_rho"] is None
    for key in ("baseline", "steered"):
        assert set(data[key]) == {"text", "tokens"}
        assert isinstance(data[key]["text"], str) and len(data[key]["tokens"]) == 6
        assert all(isinstance(t, int) for t in data[key]["tokens"])
    assert data["baseline"]["tokens"] != data["steered"]["tokens"]
    assert data["features"] == [{"feature": 3, "f_max": 3.0, "strength": -6.0},
                                {"feature": 7, "f_max": 2.0, "strength": -6.0}]
    assert data["mode"] == "add" and data["positions"] == "generated"


def test_steer_json_is_reproducible_when_sampling(tiny_model_dir, tiny_sae_dir, capsys):
    args = _args(tiny_model_dir, tiny_sae_dir, "--feature", "3", "--f-max", "3", "--temperature", "1.5",
                 "--seed", "4", "--json", "--mode", "clamp")
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == first


def test_steer_text_shows_both_with_marked_words(tiny_model_dir, tiny_sae_dir, capsys):
    assert main(_args(tiny_model_dir, tiny_sae_dir, "--feature", "3", "--f-max", "3")) == 0
    out = capsys.readouterr().out
    assert "baseline (" in out and "steered (" in out and " | " in out
    assert "reasoning words marked [like this]: alternatively, hmm, maybe, wait" in out


@pytest.mark.parametrize(("extra", "message"), [
    (["--feature", "3"], "no f_max for features [3]: pass --f-max"),
    (["--feature", "999", "--f-max", "1"], "feature index 999 is out of range"),
    (["--feature", "3", "--f-max", "1", "--mode", "boost"], "unknown steering mode 'boost'"),
    (["--feature", "3", "--f-max", "1", "--positions", "later"], "unknown positions 'later'"),
    (["--feature", "3", "--feature", "4", "--f-max", "1", "--f-max", "2", "--f-max", "3"], "one per --feature"),
    (["--feature", "3", "--f-max", "1", "--positions", "thinking"], "'</think>' is 8 tokens for this tokenizer"),
    (["--feature", "3", "--stats", "/nonexistent/run"], "no ReasonScore statistics"),
])
def test_steer_errors_are_one_clear_line(tiny_model_dir, tiny_sae_dir, capsys, extra, message):
    assert main(_args(tiny_model_dir, tiny_sae_dir, *extra)) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]  # (libraries may print progress bars before)
    assert last.startswith("tl-reasoning steer: error:") and message in last


def test_ablate_needs_no_f_max(tiny_model_dir, tiny_sae_dir, capsys):
    assert main(_args(tiny_model_dir, tiny_sae_dir, "--feature", "3", "--mode", "ablate", "--json")) == 0
    assert json.loads(capsys.readouterr().out)["features"][0]["f_max"] is None


def test_intervention_options_from_the_command_line(tiny_model_dir, tiny_sae_dir, capsys):
    from tl_reasoning.cli.steer_cmd import parse_options

    assert parse_options(["only_above=true", "how=direction", "angle=30.5", "ids=[1, 2]"]) == {
        "only_above": True, "how": "direction", "angle": 30.5, "ids": [1, 2]}
    base = _args(tiny_model_dir, tiny_sae_dir, "--feature", "3", "--mode", "ablate", "--json")
    assert main([*base, "--option", "how=direction"]) == 0
    assert json.loads(capsys.readouterr().out)["mode"] == "ablate"
    assert main([*base, "--option", "how=sideways"]) == 1  # the value reached the factory, which rejects it
    assert "sideways" in capsys.readouterr().err
    assert main([*base, "--option", "nonsense"]) == 1
    assert "KEY=VALUE" in capsys.readouterr().err
