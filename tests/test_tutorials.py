"""Tutorials for the organism run as scripts (they are documentation that must keep working)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

#: A tutorial holding this line is not run here (GPU and downloads); it has its own test up to its first download.
NOT_EXECUTED = "# tutorial-ci: not executed"
TUTORIALS = sorted(p for p in (Path(__file__).parent.parent / "tutorials").glob("[0-9]*.py")
                   if NOT_EXECUTED not in p.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_tutorial_runs(path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]


def test_there_is_a_tutorial():
    assert TUTORIALS, "tutorials/ has no numbered tutorial scripts"
