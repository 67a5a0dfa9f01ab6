"""TLReasoningLM: lm-eval's request types on tl-reasoning backends, with steering installed and removed."""

from __future__ import annotations

import pytest
import torch
from lm_eval.api.instance import Instance

from tl_reasoning import backend_for, feature_steering

PROMPT = "Question: What is 959 + 928?\n"
CONT = "<think>\nLet me add 959 and 928"


def _ll(context: str, continuation: str, i: int = 0) -> Instance:
    return Instance("loglikelihood", {}, (context, continuation), i)


def _gen(context: str, kwargs: dict, i: int = 0) -> Instance:
    return Instance("generate_until", {}, (context, kwargs), i)


def _reference_logprob(model, context: str, continuation: str) -> float:
    backend = backend_for(model)
    whole = backend.tokenize([context + continuation]).input_ids
    n_ctx = backend.tokenize([context]).input_ids.shape[1] if context else 1
    logprobs = torch.log_softmax(backend.forward(whole).float(), dim=-1)[0]
    ids = whole[0]
    return sum(float(logprobs[i - 1, ids[i]]) for i in range(n_ctx, ids.shape[0]))


def _lm(model, **kwargs):
    from tl_reasoning_lm_eval import TLReasoningLM

    return TLReasoningLM(model=model, **kwargs)


def test_TLReasoningLM_loglikelihood_equals_own_forward(hooked):
    lm = _lm(hooked, batch_size=3)
    requests = [_ll(PROMPT, CONT), _ll("", "Question: What is"), _ll("Question:", " What is 1 + 2?\n")]
    got = lm.loglikelihood(requests, disable_tqdm=True)
    for request, (logprob, _) in zip(requests, got, strict=True):
        assert logprob == pytest.approx(_reference_logprob(hooked, *request.args), abs=1e-4)
    # the trained continuation is the greedy one; a wrong digit is not
    assert got[0][1] is True
    assert lm.loglikelihood([_ll(PROMPT, "<think>\nLet me add 958")], disable_tqdm=True)[0][1] is False
    # batching (right padding, longest first) does not change any value
    single = _lm(hooked, batch_size=1).loglikelihood(requests, disable_tqdm=True)
    assert [s[0] for s in single] == pytest.approx([g[0] for g in got], abs=1e-5)


def test_TLReasoningLM_same_loglikelihood_on_every_backend(load_organism):
    requests = [_ll(PROMPT, CONT), _ll("Question:", " What is 12 - 5?")]
    values = {name: [v for v, _ in _lm(load_organism(name), batch_size=2).loglikelihood(requests, disable_tqdm=True)]
              for name in ("hooked", "bridge", "nnsight")}
    assert values["bridge"] == pytest.approx(values["hooked"], abs=2e-3)
    assert values["nnsight"] == pytest.approx(values["hooked"], abs=2e-3)


def test_TLReasoningLM_steering_changes_logprobs_and_is_removed(hooked, sae):
    base = _lm(hooked).loglikelihood([_ll(PROMPT, CONT)], disable_tqdm=True)[0][0]
    steered_lm = _lm(hooked, sae=sae, features="0;1", strength=8, f_max="5;5")
    assert steered_lm.steerings[0].info["features"] == [0, 1]
    steered = steered_lm.loglikelihood([_ll(PROMPT, CONT)], disable_tqdm=True)[0][0]
    assert abs(steered - base) > 1e-3
    assert backend_for(hooked).edits == []  # removed after the call
    assert _lm(hooked).loglikelihood([_ll(PROMPT, CONT)], disable_tqdm=True)[0][0] == pytest.approx(base, abs=1e-6)
    # the same as steering by hand with tl-reasoning
    from tl_reasoning import steer

    with steer(hooked, sae, [0, 1], strength=8.0, f_max=5.0):
        by_hand = _reference_logprob(hooked, PROMPT, CONT)
    assert steered == pytest.approx(by_hand, rel=1e-3)  # batched vs single forward under a large push


def test_TLReasoningLM_steering_removed_when_a_request_fails(hooked, sae, monkeypatch):
    lm = _lm(hooked, steering=feature_steering(sae, [3], strength=2.0, f_max=4.0))
    backend = backend_for(hooked)
    seen = []

    def failing_forward(*args, **kwargs):
        seen.append(len(backend.edits))
        raise RuntimeError("boom")

    monkeypatch.setattr(backend, "forward", failing_forward)
    with pytest.raises(RuntimeError, match="boom"):
        lm.loglikelihood([_ll(PROMPT, CONT)], disable_tqdm=True)
    assert seen == [1] and backend.edits == []


def test_TLReasoningLM_generate_until_stops_batches_and_steers(hooked, sae):
    lm = _lm(hooked, batch_size=4)
    short = "Question: What is 890 - 547?\n"
    kwargs = {"until": ["column"], "max_gen_toks": 24, "do_sample": False}
    texts = lm.generate_until([_gen(PROMPT, kwargs, 0), _gen(short, kwargs, 1)], disable_tqdm=True)
    assert texts == ["<think>\nLet me add 959 and 928 ", "<think>\nLet me subtract 547 from 890 "]
    # one at a time (no left padding) gives the same text
    alone = [_lm(hooked, batch_size=1).generate_until([_gen(p, kwargs)], disable_tqdm=True)[0] for p in (PROMPT, short)]
    assert alone == texts
    # max_gen_toks bounds the output; without a stop string it is exactly that many tokens here
    capped = lm.generate_until([_gen(PROMPT, {"until": [], "max_gen_toks": 5})], disable_tqdm=True)[0]
    assert len(lm.tok_encode(capped, add_special_tokens=False)) == 5
    # greedy text with an unmatched stop string is the full budget, and steering changes it
    free = {"until": ["@@"], "max_gen_toks": 30}
    base = lm.generate_until([_gen(PROMPT, free)], disable_tqdm=True)[0]
    steered = _lm(hooked, sae=sae, features=[0, 1], strength=30, f_max=5).generate_until(
        [_gen(PROMPT, free)], disable_tqdm=True)[0]
    assert steered != base and backend_for(hooked).edits == []


def test_TLReasoningLM_generate_until_same_on_nnsight(hooked, load_organism):
    kwargs = {"until": ["\nTens"], "max_gen_toks": 20}
    prompts = [PROMPT, "Question: What is 873 - 210?\n"]
    texts = {}
    for name, model in (("hooked", hooked), ("nnsight", load_organism("nnsight"))):
        texts[name] = _lm(model, batch_size=2).generate_until([_gen(p, kwargs, i) for i, p in enumerate(prompts)],
                                                              disable_tqdm=True)
    assert texts["nnsight"] == texts["hooked"]
    assert all("\nTens" not in t for t in texts["hooked"])


def test_TLReasoningLM_loglikelihood_rolling_scores_every_token_once(hooked):
    text = "Question: What is 959 + 928?\n<think>\nLet me add 959 and 928 column by column."
    lm = _lm(hooked)
    full = lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, (text,), 0)], disable_tqdm=True)[0]
    assert full == pytest.approx(_reference_logprob(hooked, "", text), abs=1e-4)
    # short windows: each window's scored tokens are predicted from the window's own context
    from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

    small = _lm(hooked, max_length=8)
    got = small.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, (text,), 0)], disable_tqdm=True)[0]
    tokens = small.tok_encode(text, add_special_tokens=False)
    backend = backend_for(hooked)
    expected = 0.0
    for ctx, cont in map(make_disjoint_window, get_rolling_token_windows(tokens, small.prefix_token_id, 8, 1)):
        ids = torch.tensor([[*ctx, *cont][:-1]])
        logprobs = torch.log_softmax(backend.forward(ids).float(), dim=-1)[0]
        start = ids.shape[1] - len(cont)
        expected += sum(float(logprobs[start + j, t]) for j, t in enumerate(cont))
    assert got == pytest.approx(expected, abs=1e-4)
    assert got < full  # less context, worse predictions


def test_TLReasoningLM_clear_errors(hooked, sae):
    from tl_reasoning_lm_eval import TLReasoningLM

    with pytest.raises(TypeError, match="unknown model_args pretraind"):
        TLReasoningLM(model=hooked, pretraind="x")
    with pytest.raises(ValueError, match="needs both sae"):
        TLReasoningLM(model=hooked, features="1;2")
    with pytest.raises(ValueError, match="needs f_max"):
        TLReasoningLM(model=hooked, sae=sae, features=1)
    with pytest.raises(ValueError, match="cannot read features"):
        TLReasoningLM(model=hooked, sae=sae, features="a;b", f_max=1)
    with pytest.raises(ValueError, match="unknown steering mode 'nope'"):
        TLReasoningLM(model=hooked, sae=sae, features=1, f_max=1, mode="nope")
    lm = TLReasoningLM(model=hooked)
    with pytest.raises(ValueError, match="num_beams are not supported"):
        lm.generate_until([_gen(PROMPT, {"until": [], "num_beams": 4})], disable_tqdm=True)
    with pytest.raises(ValueError, match="leaves no room"):
        lm.generate_until([_gen(PROMPT, {"max_gen_toks": 10_000})], disable_tqdm=True)


def _active_organism_feature() -> int:
    """A feature of the organism SAE that fires on the first reasoning trace (the most active one)."""
    import tl_reasoning

    model, sae = tl_reasoning.load_model("organism"), tl_reasoning.load_sae("organism")
    hook = sae.cfg.metadata.hook_name
    text = next(iter(tl_reasoning.load_corpus("organism:reasoning")))["text"]
    _, cache = model.run_with_cache(text, names_filter=hook)
    return int(sae.encode(cache[hook])[0, 1:].sum(0).argmax())


def test_TLReasoningLM_intervention_options_and_organism_f_max(sae):
    from tl_reasoning_lm_eval import TLReasoningLM

    feature = _active_organism_feature()
    lm = TLReasoningLM(model="organism", sae="organism", features=feature, mode="cap", option_only_above=True,
                       f_max_docs=4)
    info = lm.steerings[0].info
    assert info["mode"] == "cap" and info["only_above"] is True
    assert info["f_max"][0] > 0  # estimated on the organism's reasoning corpus
    assert lm.get_model_info()["tl_reasoning_steering"][0]["features"] == [feature]
    assert TLReasoningLM(model="organism", device="cuda:0").device == torch.device("cpu") or torch.cuda.is_available()
