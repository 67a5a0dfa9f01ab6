"""``spec=``: a saved steering spec steers the lm-eval model exactly as the steering it was saved from."""

from __future__ import annotations

import pytest
from lm_eval.api.instance import Instance

import tl_reasoning as tr

PROMPT = "Question: What is 959 + 928?\n"
CONT = "<think>\nLet me add 959 and 928"


def _ll() -> list[Instance]:
    return [Instance("loglikelihood", {}, (PROMPT, CONT), 0)]


def test_spec_steers_like_the_saved_steering(hooked, sae, tmp_path):
    from tl_reasoning_lm_eval import TLReasoningLM

    steering = tr.feature_steering(sae, [0, 1], strength=8.0, f_max=[5.0, 3.0], positions="1:40")
    spec = tr.save_steering(tmp_path / "spec.json", steering)
    base = TLReasoningLM(model=hooked).loglikelihood(_ll(), disable_tqdm=True)[0][0]
    direct = TLReasoningLM(model=hooked, steering=steering).loglikelihood(_ll(), disable_tqdm=True)[0][0]
    lm = TLReasoningLM(model=hooked, spec=str(spec))
    assert [dict(s.info) for s in lm.steerings] == [dict(steering.info)]
    assert lm.get_model_info()["tl_reasoning_steering"][0]["features"] == [0, 1]
    assert abs(direct - base) > 1e-3
    assert lm.loglikelihood(_ll(), disable_tqdm=True)[0][0] == direct
    # the SAE may be given by name; it is still checked against the spec
    assert len(TLReasoningLM(model=hooked, spec=str(spec), sae="organism").steerings) == 1


def test_spec_for_another_sae_is_refused(hooked, sae, tmp_path):
    import torch
    from tl_reasoning_lm_eval import TLReasoningLM

    spec = tr.save_steering(tmp_path / "spec.json", tr.feature_steering(sae, [0], strength=2.0, f_max=1.0))
    other = tr.load_sae("organism")
    with torch.no_grad():
        other.W_dec.mul_(1.5)
    with pytest.raises(ValueError, match="differs"):
        TLReasoningLM(model=hooked, spec=str(spec), sae=other)
