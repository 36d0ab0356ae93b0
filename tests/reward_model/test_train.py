"""`rlvr rm train`: the Bradley–Terry loss, preference data, and a trained dir the verifier ranks with."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rlvr import verify_batch
from rlvr.agents.reward_model.data import PreferenceDataError, read_pairs, sample_pairs
from rlvr.agents.reward_model.train import bradley_terry_loss, pair_accuracy, split_pairs
from rlvr.cli import app
from rlvr.verifier.v1 import verifier_pb2 as pb

from .conftest import build_reward_model, write_arithmetic_pairs


def test_bradley_terry_loss_is_minus_log_sigmoid_of_the_margin() -> None:
    chosen, rejected = torch.tensor([2.0, 0.0, -1.0]), torch.tensor([0.0, 0.0, 1.0])
    expected = (math.log1p(math.exp(-2.0)) + math.log(2.0) + math.log1p(math.exp(2.0))) / 3
    assert bradley_terry_loss(chosen, rejected).item() == pytest.approx(expected, rel=1e-6)
    assert pair_accuracy(chosen, rejected) == pytest.approx(1 / 3)  # a tie is not a win


def test_held_out_pairs_ask_prompts_training_never_saw(tmp_path: Path) -> None:
    pairs = read_pairs(write_arithmetic_pairs(tmp_path / "p.jsonl", 60))
    train, held = split_pairs(pairs, 0.2, seed=0)
    assert held and train and not {p.group for p in train} & {p.group for p in held}


def sample(prompt_index: int, completion: str, correct: bool | None, **extra: object) -> dict:
    status = {True: "CORRECT", False: "INCORRECT", None: "TIMEOUT"}[correct]
    return {
        "source": "env:rlvr/Arithmetic-v0",
        "prompt_index": prompt_index,
        "task_id": f"t{prompt_index}",
        "prompt": [{"role": "user", "content": f"Compute {prompt_index} + 1 (templated)"}],
        "completion": completion,
        "correct": correct,
        "status": status,
        "request": {"prompt": f"Compute {prompt_index} + 1"},
        **extra,
    }


def test_sample_records_pair_correct_with_incorrect_completions_of_one_prompt(tmp_path: Path) -> None:
    records = [
        sample(0, "\\boxed{1}", True),
        sample(0, "\\boxed{1} again", True),
        sample(0, "\\boxed{5}", False),
        sample(0, "\\boxed{6}", False),
        sample(0, "slow", None),
        sample(1, "\\boxed{2}", True),  # no incorrect completion: no pair
    ]
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    pairs = read_pairs(path, pairs_per_prompt=3)
    assert len(pairs) == 3
    assert all(p.prompt == "Compute 0 + 1" for p in pairs)  # what the verifier sees as request.prompt
    assert {p.chosen for p in pairs} == {"\\boxed{1}", "\\boxed{1} again"}
    assert {p.rejected for p in pairs} == {"\\boxed{5}", "\\boxed{6}"}
    assert "slow" not in {p.rejected for p in pairs} | {p.chosen for p in pairs}
    assert len(sample_pairs(records[:4], pairs_per_prompt=10)) == 4


def test_conversational_pairs_read_like_plain_ones(tmp_path: Path) -> None:
    row = {
        "prompt": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+2?"}],
        "chosen": [{"role": "assistant", "content": "4"}],
        "rejected": [{"role": "assistant", "content": "5"}],
    }
    path = tmp_path / "dpo.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (pair,) = read_pairs(path)
    assert (pair.prompt, pair.chosen, pair.rejected) == ("2+2?", "4", "5")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"prompt": "a", "chosen": "b", "rejected": "c"}\n{"prompt": "a", "chosen"\n',
            ":2: not a JSON line",
        ),
        ('{"prompt": "a", "answer": "b"}\n', ":1: a line needs prompt + chosen + rejected"),
        ('{"prompt": "a", "chosen": 3, "rejected": "c"}\n', ":1: field 'chosen' must be a string"),
        ("\n\n", "no preference pairs in"),
        ('{"prompt_index": 0, "completion": "x", "correct": true}\n', "none of its 1 prompts has both"),
    ],
)
def test_bad_preference_files_name_the_line_and_the_fix(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(PreferenceDataError, match=message.replace("+", r"\+").replace("(", r"\(")):
        read_pairs(path)


@pytest.mark.slow
def test_rm_train_learns_held_out_preferences_and_the_verifier_ranks_with_the_result(tmp_path: Path) -> None:
    data = write_arithmetic_pairs(tmp_path / "pairs.jsonl", 160)
    out = tmp_path / "rm"
    result = CliRunner().invoke(
        app,
        [
            "rm",
            "train",
            str(data),
            "-o",
            str(out),
            "--epochs",
            "2",
            "--eval-fraction",
            "0.25",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "held-out pair accuracy" in result.output
    summary = json.loads((out / "reward_model.json").read_text())
    assert summary["held_out"]["eval/accuracy"] > 0.8
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert metrics[0]["step"] == 0 and "eval/accuracy" in metrics[0]  # the untrained baseline
    assert metrics[-1]["eval/accuracy"] == summary["held_out"]["eval/accuracy"]

    pairs = read_pairs(write_arithmetic_pairs(tmp_path / "fresh.jsonl", 20, seed=99))
    requests = [
        pb.VerifyRequest(id=f"{i}{side}", verifier="reward_model", prompt=p.prompt, response=text)
        for i, p in enumerate(pairs)
        for side, text in (("c", p.chosen), ("r", p.rejected))
    ]
    for request in requests:
        request.options.update({"model": str(out)})
    answers = verify_batch(requests)
    rewards = [a.reward for a in answers]
    assert all(a.status == pb.PARTIAL for a in answers), answers[0].message
    wins = sum(rewards[2 * i] > rewards[2 * i + 1] for i in range(len(pairs)))
    assert wins / len(pairs) > 0.8


def test_rm_train_refuses_a_tokenizer_that_does_not_fit_the_model(tmp_path: Path) -> None:
    data = write_arithmetic_pairs(tmp_path / "pairs.jsonl", 10)
    small = build_reward_model(tmp_path / "small")  # a vocabulary of ~300 tokens
    big = tmp_path / "big-tokenizer"
    from rlvr.agents.tiny import train_tokenizer

    train_tokenizer([f"token{i} word{i * 7}" for i in range(3000)], vocab_size=2000).save_pretrained(big)
    result = CliRunner().invoke(
        app,
        ["rm", "train", str(data), "-o", str(tmp_path / "o"), "--model", str(small), "--tokenizer", str(big)],
    )
    assert result.exit_code == 2
    assert "do not belong together" in result.output


def test_rm_train_explains_a_bad_data_line(tmp_path: Path) -> None:
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"prompt": "a", "chosen": "b", "rejected": "c"}\nnot json\n')
    result = CliRunner().invoke(app, ["rm", "train", str(data), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "pairs.jsonl:2: not a JSON line" in result.output


def test_rm_train_without_a_held_out_split_says_so_and_counts_truncated_pairs(tmp_path: Path) -> None:
    data = write_arithmetic_pairs(tmp_path / "pairs.jsonl", 8)
    out = tmp_path / "rm"
    args = [
        "rm",
        "train",
        str(data),
        "-o",
        str(out),
        "--eval-fraction",
        "0",
        "--max-length",
        "16",
        "--no-progress",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "no held-out pairs" in result.output and "8 truncated to 16 tokens" in result.output
    summary = json.loads((out / "reward_model.json").read_text())
    assert summary["held_out"] is None and summary["pairs"]["truncated"] == 8
    assert (out / "model.safetensors").exists()


def write_sample_file(path: Path, prompts: int) -> list:
    """`rlvr sample`'s JSON lines for Arithmetic tasks: two boxed right answers and two unboxed guesses
    per prompt, scored by the real `math` verifier and written by `sample_record`."""
    from rlvr.agents.sample import Completion, env_prompts, sample_record

    run = {"source": "rlvr/Arithmetic-v0", "model": "scripted", "backend": "test", "sampling": {}}
    tasks = env_prompts("rlvr/Arithmetic-v0", prompts)
    with path.open("w", encoding="utf-8") as sink:
        for task in tasks:
            answer = task.ground_truth
            texts = [f"\\boxed{{{answer}}}", f"It is \\boxed{{{answer}}}.", f"maybe {answer}1", "no idea"]
            requests = []
            for text in texts:
                request = pb.VerifyRequest()
                request.CopyFrom(task.request)
                request.response = text
                requests.append(request)
            for index, (text, response) in enumerate(zip(texts, verify_batch(requests))):
                record = sample_record(
                    task, index, Completion(text, "stop"), response, run, verify_seconds=0.0
                )
                sink.write(json.dumps(record) + "\n")
    return tasks


def test_rlvr_sample_output_trains_a_reward_model(tmp_path: Path) -> None:
    samples = tmp_path / "samples.jsonl"
    tasks = write_sample_file(samples, prompts=10)
    pairs = read_pairs(samples)
    assert len(pairs) == 10 * 4  # 2 correct x 2 incorrect per prompt
    assert {p.prompt for p in pairs} == {t.request.prompt for t in tasks}
    assert all("boxed" in p.chosen and "boxed" not in p.rejected for p in pairs)
    out = tmp_path / "rm"
    result = CliRunner().invoke(app, ["rm", "train", str(samples), "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    counts = json.loads((out / "reward_model.json").read_text())["pairs"]
    assert counts["train"] + counts["held_out"] == 40 and counts["held_out"] >= 4  # whole prompts held out
