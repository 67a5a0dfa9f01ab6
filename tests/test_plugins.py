"""Plugin discovery, registries, isolation of broken plugins, allow/block lists."""

from __future__ import annotations

import json
import sys
import textwrap
import types

import pytest

import tl_reasoning
from tl_reasoning.plugins import (
    backend_for,
    get_plugin_manager,
    get_registry,
    plugin_report,
    registered_plugin,
    reset_plugins,
)
from tl_reasoning.registry import DuplicateNameError, UnknownNameError


def _module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(textwrap.dedent(source), module.__dict__)
    return module


GOOD = """
import tl_reasoning

@tl_reasoning.hookimpl
def tl_reasoning_register_scorers(register):
    register("always_one", lambda stats: stats.mean_window * 0 + 1, "constant")

@tl_reasoning.hookimpl
def tl_reasoning_register_interventions(register):
    register("noop", lambda weights, features, strength, f_max: (lambda act, pos: act))

@tl_reasoning.hookimpl
def tl_reasoning_register_visualizations(register):
    register("empty_view", lambda **kw: tl_reasoning.View("<p>empty</p>"))

@tl_reasoning.hookimpl
def tl_reasoning_register_artifacts(register):
    register("model", "my-model", lambda backend=None, device=None, dtype=None: "MODEL:" + str(backend))
"""


def test_builtins_registered_through_entry_points():
    infos, failures = plugin_report()
    builtin = {i.name: i for i in infos if i.builtin}
    assert {"builtin_backends", "builtin_scorers", "builtin_interventions", "builtin_visualizations"} <= set(builtin)
    assert all(i.distribution == "tl-reasoning" for i in builtin.values())
    assert "reason_score" in builtin["builtin_scorers"].registered["scorer"]
    assert "add" in builtin["builtin_interventions"].registered["intervention"]
    assert "feature_activations" in builtin["builtin_visualizations"].registered["visualization"]
    assert failures == []


def test_installed_third_party_plugin_is_discovered():
    """plugins/tl-reasoning-contrast-scorers is pip-installed by `make test` / CI."""
    infos, _ = plugin_report()
    info = {i.name: i for i in infos}.get("contrast_scorers")
    assert info is not None, "install plugins/tl-reasoning-contrast-scorers (make test does)"
    assert not info.builtin and info.version == "0.1.0"
    assert get_registry("scorer").get("mean_difference").plugin == "contrast_scorers"


def test_in_process_registration_is_removed_afterwards():
    plugin = _module("good_plugin", GOOD)
    with registered_plugin(plugin) as name:
        assert name == "good_plugin"
        assert get_registry("scorer").get("always_one").plugin == "good_plugin"
        assert "noop" in get_registry("intervention")
        assert "empty_view" in get_registry("visualization")
        assert tl_reasoning.load_model("my-model", backend="hooked") == "MODEL:hooked"
    assert "always_one" not in get_registry("scorer")
    assert "my-model" not in get_registry("model")
    assert not get_plugin_manager().has_plugin("good_plugin")


def test_in_process_registration_removed_on_exception():
    plugin = _module("good_plugin2", GOOD)
    with pytest.raises(RuntimeError):
        with registered_plugin(plugin):
            raise RuntimeError("inside")
    assert not get_plugin_manager().has_plugin("good_plugin2")


def test_duplicate_name_names_both_plugins():
    source = """
import tl_reasoning
@tl_reasoning.hookimpl
def tl_reasoning_register_scorers(register):
    register("reason_score", lambda stats: stats.mean_window)
"""
    with registered_plugin(_module("copycat", source)):
        infos, failures = plugin_report()
        failure = [f for f in failures if f.name == "copycat"]
        assert failure and "reason_score" in failure[0].error
        assert "builtin_scorers" in failure[0].error and "copycat" in failure[0].error
        # the original survives; the copy was rolled back
        assert get_registry("scorer").get("reason_score").plugin == "builtin_scorers"


def test_registry_duplicate_error_direct():
    from tl_reasoning.registry import Registry

    reg = Registry("scorer")
    reg.add("x", len, "", "first")
    with pytest.raises(DuplicateNameError, match="'first' and 'second'"):
        reg.add("x", len, "", "second")


def test_registration_error_is_isolated_and_rolled_back():
    source = """
import tl_reasoning
@tl_reasoning.hookimpl
def tl_reasoning_register_scorers(register):
    register("half_done", lambda stats: stats.mean_window)
    raise RuntimeError("registration exploded")
"""
    with registered_plugin(_module("exploder", source)):
        _, failures = plugin_report()
        assert any(f.name == "exploder" and "registration exploded" in f.error and f.stage == "register scorer"
                   for f in failures)
        assert "half_done" not in get_registry("scorer")
        assert "reason_score" in get_registry("scorer")


def test_unknown_name_lists_known():
    with pytest.raises(UnknownNameError, match="reason_score"):
        get_registry("scorer").get("nope")
    with pytest.raises(ValueError, match="unknown registry kind"):
        get_registry("gadget")


def test_invalid_hookimpl_signature_rejected():
    source = """
import tl_reasoning
@tl_reasoning.hookimpl
def tl_reasoning_register_scorers(register, not_a_param):
    pass
"""
    with pytest.raises(Exception, match="not_a_param"):
        with registered_plugin(_module("badsig", source)):
            pass
    assert not get_plugin_manager().has_plugin("badsig")


@pytest.fixture
def fake_dist(tmp_path, monkeypatch):
    """Write an installed distribution with entry points into a temp dir on sys.path."""

    def make(dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
        info = tmp_path / f"{dist.replace('-', '_')}-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
        lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
        (info / "entry_points.txt").write_text(f"[tl_reasoning]\n{lines}\n")
        for name, source in modules.items():
            (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))

    monkeypatch.syspath_prepend(str(tmp_path))
    yield make
    for name in [m for m in sys.modules if m.startswith("fakeplug_")]:
        del sys.modules[name]


def test_broken_entry_points_are_reported_and_skipped(fake_dist):
    fake_dist(
        "fake-plugins",
        {"aa_broken_import": "fakeplug_missing", "bb_raises": "fakeplug_raises", "cc_good": "fakeplug_good"},
        {"fakeplug_raises": "raise ImportError('cannot import helper')", "fakeplug_good": GOOD},
    )
    reset_plugins()
    infos, failures = plugin_report()
    by_name = {f.name: f for f in failures}
    assert by_name["aa_broken_import"].stage == "import"
    assert "fakeplug_missing" in by_name["aa_broken_import"].error
    assert "cannot import helper" in by_name["bb_raises"].error
    assert by_name["bb_raises"].distribution == "fake-plugins"
    good = {i.name: i for i in infos}["cc_good"]
    assert good.distribution == "fake-plugins" and good.version == "1.2.3"
    assert "always_one" in get_registry("scorer")
    assert "reason_score" in get_registry("scorer")


def test_allowlist_and_blocklist(fake_dist, monkeypatch):
    fake_dist("fake-plugins", {"cc_good": "fakeplug_good"}, {"fakeplug_good": GOOD})
    monkeypatch.setenv("TL_REASONING_LOAD_PLUGINS", "")
    reset_plugins()
    assert "always_one" not in get_registry("scorer")
    assert "reason_score" in get_registry("scorer"), "built-ins load whatever the allowlist says"

    monkeypatch.setenv("TL_REASONING_LOAD_PLUGINS", "fake-plugins")
    reset_plugins()
    assert "always_one" in get_registry("scorer")
    assert "mean_difference" not in get_registry("scorer")

    monkeypatch.delenv("TL_REASONING_LOAD_PLUGINS")
    monkeypatch.setenv("TL_REASONING_BLOCK_PLUGINS", "cc_good,builtin_visualizations")
    reset_plugins()
    assert "always_one" not in get_registry("scorer")
    assert "feature_activations" not in get_registry("visualization")
    assert "add" in get_registry("intervention")


def test_backend_hook_plugin_takes_over(models):
    from tl_reasoning.backends.transformer_lens import HookedTransformerBackend

    class Marked(HookedTransformerBackend):
        kind = "marked"

    source_plugin = types.SimpleNamespace()

    @tl_reasoning.hookimpl
    def tl_reasoning_backend(model):
        return Marked(model) if getattr(model, "cfg", None) is not None else None

    source_plugin.tl_reasoning_backend = tl_reasoning_backend
    fresh = object.__new__(type(models["hooked"]))  # a model object with no cached adapter
    fresh.__dict__.update({k: v for k, v in models["hooked"].__dict__.items() if k != "_tl_reasoning_backend"})
    with registered_plugin(source_plugin, name="marker"):
        assert backend_for(fresh).kind == "marked"


def test_backend_for_unknown_object_is_clear():
    with pytest.raises(TypeError, match="no backend handles a builtins.str"):
        backend_for("not a model")


def test_cli_plugins_lists_builtins_and_failures(fake_dist, capsys):
    from tl_reasoning.cli import main

    fake_dist("fake-plugins", {"aa_broken_import": "fakeplug_missing"}, {})
    reset_plugins()
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "builtin_scorers" in out and "scorers: reason_score" in out
    assert "failed plugins:" in out and "aa_broken_import" in out
    reset_plugins()
    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert any(p["name"] == "builtin_interventions" and "add" in p["registered"]["intervention"]
               for p in data["plugins"])
    assert data["failed"][0]["name"] == "aa_broken_import"
