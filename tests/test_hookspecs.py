"""Meta-tests: every hook is documented (parameters, return, remote safety) and tested."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from tl_reasoning import hookspecs

HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("tl_reasoning_")]
TESTS = Path(__file__).parent


def test_there_are_hooks_for_every_contribution_kind():
    for needed in ("tl_reasoning_register_scorers", "tl_reasoning_register_interventions",
                   "tl_reasoning_register_visualizations", "tl_reasoning_register_artifacts", "tl_reasoning_backend"):
        assert needed in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook):
    fn = getattr(hookspecs, hook)
    doc = inspect.getdoc(fn) or ""
    for arg in inspect.signature(fn).parameters:
        assert f":param {arg}:" in doc, f"{hook} does not document parameter {arg}"
    assert ":return:" in doc, f"{hook} does not document its return value"
    assert "Called" in doc, f"{hook} does not say when it is called"
    assert "remote" in doc.lower(), f"{hook} does not say whether it must be remote-safe"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook):
    others = [p for p in TESTS.glob("test_*.py") if p.name != Path(__file__).name]
    assert any(hook in p.read_text() for p in others), f"no test exercises {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_in_the_plugin_guide(hook):
    guide = (TESTS.parent / "docs" / "plugins.md").read_text()
    assert f"`{hook}(" in guide, f"docs/plugins.md does not describe {hook}"
