"""The organism's own artifacts load without library chatter; other paths load exactly as before.

sae-lens warns on every SAE whose config names ``model_from_pretrained_kwargs`` ("load the model like so:
HookedSAETransformer...") and transformers draws a "Loading weights" bar for every local model; neither
says anything useful about the organism, whose model tl-reasoning loads itself. Each check runs in a
fresh interpreter, so what is printed is what a user sees (warnings are shown once per process).
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest

CHATTER = ("model_from_pretrained_kwargs", "HookedSAETransformer", "Loading weights")


def _stderr_of(code: str) -> str:
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONWARNINGS="default")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


def test_organism_saes_load_quietly():
    err = _stderr_of("import tl_reasoning as t\nfor name in ('organism', 'organism-base', 'organism-stage-S'):\n"
                     "    t.load_sae(name)\n")
    assert not [c for c in CHATTER if c in err], err[-3000:]


@pytest.mark.parametrize("backend", ["hooked", "bridge", "nnsight"])
def test_organism_models_load_quietly(backend):
    err = _stderr_of(f"import tl_reasoning as t\nt.load_model('organism', backend={backend!r})\n")
    assert "Loading weights" not in err, err[-3000:]


def test_quiet_loading_is_scoped_to_artifacts(tmp_path):
    from transformers.utils import logging as hf_logging

    from tl_reasoning.organism import artifact_dir, is_artifact, quiet_artifact_loading, sae_dir

    assert is_artifact(sae_dir("organism")) and is_artifact(artifact_dir())
    assert not is_artifact(tmp_path)
    before = hf_logging.is_progress_bar_enabled()
    message = "\nThis SAE has non-empty model_from_pretrained_kwargs. "
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with quiet_artifact_loading(tmp_path):
            assert hf_logging.is_progress_bar_enabled() == before
            warnings.warn(message, UserWarning, stacklevel=1)
        assert len(seen) == 1  # a user's own SAE keeps sae-lens's advice
        with quiet_artifact_loading(sae_dir("organism")):
            assert not hf_logging.is_progress_bar_enabled()
            warnings.warn(message, UserWarning, stacklevel=1)
            warnings.warn("something else", UserWarning, stacklevel=1)
        assert [str(w.message) for w in seen[1:]] == ["something else"]
    assert hf_logging.is_progress_bar_enabled() == before
