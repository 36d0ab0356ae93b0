"""The `reward_model` verifier: batching, normalisation, truncation, load failures and the model cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rlvr import verify_batch
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine import registry
from rlvr.verifier_server.verifiers.reward_model import RewardModel, truncate

from .conftest import build_reward_model

COMPLETIONS = ["3 + 4 = 7, so \\boxed{7}", "I guess 8.", "7", "", "so \\boxed{12}. I guess 12."]


def requests(model: Path, **options: object) -> list[pb.VerifyRequest]:
    return [_with_options(r, {"model": str(model), **options}) for r in _plain()]


def _plain() -> list[pb.VerifyRequest]:
    return [
        pb.VerifyRequest(id=str(i), verifier="reward_model", prompt="What is 3 + 4?", response=text)
        for i, text in enumerate(COMPLETIONS)
    ]


def _with_options(request: pb.VerifyRequest, options: dict) -> pb.VerifyRequest:
    request.options.update(options)
    return request


def scores(responses: list[pb.VerifyResponse]) -> list[float]:
    return [r.components["reward_model.score"] for r in responses]


def test_a_completion_scores_the_same_alone_and_in_any_batch(reward_dir: Path) -> None:
    batched = verify_batch(requests(reward_dir, batch_size=2))
    alone = [verify_batch([r])[0] for r in requests(reward_dir, batch_size=1)]
    assert [r.id for r in batched] == [str(i) for i in range(len(COMPLETIONS))]
    assert all(r.status == pb.PARTIAL for r in batched), [r.message for r in batched]
    assert scores(batched) == pytest.approx(scores(alone), abs=1e-5)
    assert len(set(round(s, 6) for s in scores(batched))) == len(COMPLETIONS)  # order kept, not shuffled
    assert [r.reward for r in batched] == scores(batched)


def test_the_engine_hands_a_batch_verifier_every_distinct_request_in_one_call(reward_dir: Path) -> None:
    shared = registry.get_verifier("reward_model")
    calls: list[int] = []
    original = shared.check_batch

    def counting(reqs, opts):  # type: ignore[no-untyped-def]
        calls.append(len(reqs))
        return original(reqs, opts)

    shared.check_batch = counting  # type: ignore[method-assign]
    try:
        batch = requests(reward_dir) + requests(reward_dir)[:2]  # two duplicates (other ids)
        for i, r in enumerate(batch):
            r.id = f"x{i}"
        responses = verify_batch(batch)
    finally:
        del shared.check_batch
    assert calls == [len(COMPLETIONS)]
    assert scores(responses[-2:]) == scores(responses[:2])


def test_the_model_is_loaded_once_and_again_when_its_dir_is_rewritten(tmp_path: Path) -> None:
    model = build_reward_model(tmp_path / "rm")
    verifier = RewardModel()
    options = [{"model": str(model)}] * 2
    first = verifier.check_batch(_plain()[:2], options)
    verifier.check_batch(_plain()[2:4], options)
    assert verifier.models.loads == 1
    build_reward_model(model, seed=1)  # a new training run over the same dir
    config = model / "config.json"
    os.utime(config, ns=(config.stat().st_atime_ns, config.stat().st_mtime_ns + 10**9))
    again = verifier.check_batch(_plain()[:2], options)
    assert verifier.models.loads == 2
    assert [o.reward for o in again] != pytest.approx([o.reward for o in first])


def test_fixed_normalisation_is_score_minus_mean_over_std(reward_dir: Path) -> None:
    raw = scores(verify_batch(requests(reward_dir)))
    fixed = verify_batch(requests(reward_dir, normalize="fixed", mean=0.5, std=2.0))
    assert [r.reward for r in fixed] == pytest.approx([(s - 0.5) / 2.0 for s in raw], abs=1e-6)
    assert "normalised" in fixed[0].message


def test_running_normalisation_uses_every_score_seen_so_far(reward_dir: Path) -> None:
    import statistics

    verifier = RewardModel()
    options = [{"model": str(reward_dir), "normalize": "running"}]
    single = verifier.check_batch(_plain()[:1], options)[0]
    assert single.reward == 0.0  # one score: no spread yet
    outcomes = verifier.check_batch(_plain()[1:], options * (len(COMPLETIONS) - 1))
    seen = [single.components["score"]] + [o.components["score"] for o in outcomes]
    mean, std = statistics.fmean(seen), statistics.pstdev(seen)
    expected = [(o.components["score"] - mean) / std for o in outcomes]
    assert [o.reward for o in outcomes] == pytest.approx(expected, abs=1e-6)
    assert f"running over {len(COMPLETIONS)}" in outcomes[0].message


def test_a_threshold_turns_the_score_into_a_verdict(reward_dir: Path) -> None:
    raw = scores(verify_batch(requests(reward_dir)))
    middle = sorted(raw)[len(raw) // 2]
    judged = verify_batch(requests(reward_dir, threshold=middle))
    assert [r.status for r in judged] == [pb.CORRECT if s >= middle else pb.INCORRECT for s in raw]


def test_truncation_keeps_the_prompt_head_and_the_completion_tail() -> None:
    prompt, completion = list(range(100, 110)), list(range(30))
    both_long = truncate(prompt, completion, 16)
    assert both_long.ids == prompt[:8] + completion[-8:] and both_long.truncated
    short_prompt = truncate(prompt[:3], completion, 16)
    assert short_prompt.ids == prompt[:3] + completion[-13:]
    short_completion = truncate(list(range(30)), [7, 8, 9, 10], 16)
    assert short_completion.ids == list(range(12)) + [7, 8, 9, 10]
    fits = truncate(prompt, completion[:6], 16)
    assert fits.ids == prompt + completion[:6] and not fits.truncated and fits.note() == ""


def test_a_truncated_completion_is_flagged(reward_dir: Path) -> None:
    long = _with_options(
        pb.VerifyRequest(
            id="long", verifier="reward_model", prompt="What is 3 + 4?", response="I guess 8. " * 40
        ),
        {"model": str(reward_dir), "max_length": 48},
    )
    short = requests(reward_dir, max_length=48)[0]
    long_answer, short_answer = verify_batch([long, short])
    assert long_answer.status == pb.PARTIAL
    assert long_answer.components["reward_model.truncated"] == 1.0
    assert "truncated to 48 tokens" in long_answer.message and "last" in long_answer.message
    assert short_answer.components["reward_model.truncated"] == 0.0


def test_a_dir_without_a_classification_head_is_an_invalid_request(causal_dir: Path) -> None:
    answer = verify_batch(requests(causal_dir)[:1])[0]
    assert answer.status == pb.INVALID_REQUEST
    assert "no trained sequence-classification head" in answer.message and "rlvr rm train" in answer.message


def test_bad_options_fail_their_own_request_only(reward_dir: Path, tmp_path: Path) -> None:
    good = requests(reward_dir)[0]
    missing_dir = requests(tmp_path / "nowhere")[1]
    no_model = _plain()[2]
    too_long = requests(reward_dir, max_length=10_000)[3]
    two_labels = requests(build_reward_model(tmp_path / "two", num_labels=2))[4]
    empty = _with_options(pb.VerifyRequest(id="e", verifier="reward_model"), {"model": str(reward_dir)})
    answers = verify_batch([good, missing_dir, no_model, too_long, two_labels, empty])
    assert answers[0].status == pb.PARTIAL
    assert [a.status for a in answers[1:]] == [pb.INVALID_REQUEST] * 5
    assert "does not exist" in answers[1].message
    assert "option 'model' is required" in answers[2].message
    assert "exceeds the model's context of 64 tokens" in answers[3].message
    assert "2 output labels" in answers[4].message
    assert "nothing to score" in answers[5].message


def test_the_core_imports_without_torch_and_answers_error(reward_dir: Path) -> None:
    script = (
        "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
        "from rlvr import verify\n"
        "from rlvr.verifier_server.engine.registry import list_verifiers\n"
        "assert 'reward_model' in [v.name for v in list_verifiers()]\n"
        f"r = verify({{'id': '1', 'verifier': 'reward_model', 'response': 'x', 'options': {{'model': {str(reward_dir)!r}}}}})\n"
        "print(r.status, r.message)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    status, message = result.stdout.split(" ", 1)
    assert int(status) == pb.ERROR
    assert "needs torch and transformers" in message and "rlvr[train]" in message


def test_reward_model_requests_run_on_the_model_lane() -> None:
    from rlvr.verifier_server.service.execution import lane_of

    mixed = pb.VerifyRequest(response="x")
    mixed.reward_spec.terms.add(name="accuracy", verifier="math", weight=1.0)
    mixed.reward_spec.terms.add(name="preference", verifier="reward_model", weight=0.1)
    assert registry.get_verifier("reward_model").lane_name() == "model"
    assert lane_of(mixed) == "model"
