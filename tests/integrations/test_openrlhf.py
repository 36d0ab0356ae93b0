"""OpenRLHF 0.11.2: its own remote-reward client and agent executors (`openrlhf/utils/agent.py`, loaded
from the installed package) against a real `rlvr serve` gateway and rlvr's reward_func / AgentInstance.

Only `agent.py` (and its logger) is loaded: the package's `__init__` imports deepspeed, vLLM and
flash-attn, which do not install on a CPU machine; these two files need only aiohttp.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import json
import sys
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest

import rlvr
from rlvr.integrations import openrlhf as adapter
from rlvr.verifier.v1 import verifier_pb2 as pb

from .conftest import Served, require_trainer
from .test_trl_multiturn import FEEDBACK, make_env


@pytest.fixture(scope="module")
def agent():
    """`openrlhf.utils.agent` of the installed, pinned OpenRLHF, without its package `__init__`."""
    require_trainer("openrlhf")
    dist = importlib.metadata.distribution("openrlhf")
    saved = {name: sys.modules.get(name) for name in ("openrlhf.utils.logging_utils", "openrlhf.utils.agent")}
    modules = []
    for name in ("logging_utils", "agent"):
        spec = importlib.util.spec_from_file_location(
            f"openrlhf.utils.{name}", dist.locate_file(f"openrlhf/utils/{name}.py")
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[f"openrlhf.utils.{name}"] = module
        spec.loader.exec_module(module)
        modules.append(module)
    yield modules[1]
    for name, module in saved.items():
        if module is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from rlvr.agents.policy import load_tokenizer

    return load_tokenizer(tiny_model)


class Engine:
    """vLLM's AsyncLLMEngine as the executors use it: `generate(token_ids, params)` → outputs[0]."""

    def __init__(self, tokenizer, replies):
        self.tokenizer, self.replies, self.calls = tokenizer, list(replies), 0

    async def generate(self, token_ids, params, **kwargs):
        text = self.replies[min(self.calls, len(self.replies) - 1)]
        self.calls += 1
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
        logprobs = [{t: SimpleNamespace(logprob=-0.5)} for t in ids]
        return SimpleNamespace(
            outputs=[SimpleNamespace(token_ids=ids, text=text, finish_reason="stop", logprobs=logprobs)]
        )


def _prompt(tokenizer, question):
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=False
    )


def _execute(agent, executor, tokenizer, prompt, label, replies):
    params = SimpleNamespace(max_tokens=32, logprobs=1)
    return asyncio.run(executor.execute(prompt, label, params, 256, tokenizer, Engine(tokenizer, replies)))


@pytest.mark.parametrize(
    "url_query, label, reply",
    [
        ("?spec=r1_math", "12", "<think>7+5</think><answer>12</answer>"),
        ("?spec=r1_math", "12", "<think>7+5</think><answer>13</answer>"),
        (
            "",
            json.dumps({"ground_truth": "12", "data_source": "r1_math"}),
            "<think>a</think> <answer>12</answer>",
        ),
        ("", {"ground_truth": "{1, 2}", "data_source": "math"}, "\\boxed{\\{2, 1\\}}"),
    ],
)
def test_openrlhf_remote_reward_client_reads_rlvr_rewards_from_the_gateway(
    agent, tokenizer, served, url_query, label, reply
):
    executor = agent.SingleTurnAgentExecutor(f"{served.http}/get_reward{url_query}")
    prompt = _prompt(tokenizer, "What is 7 plus 5?")
    output = _execute(agent, executor, tokenizer, prompt, label, [reply])
    fields = adapter.label_fields(label)
    spec = url_query.removeprefix("?spec=") or fields["data_source"]
    expected = rlvr.verify_batch(
        [{"verifier": spec, "response": reply, "ground_truth": fields["ground_truth"]}]
    )[0]
    assert output["reward"] == [expected.reward] and output["scores"] == [expected.reward]
    assert output["extra_logs"]["rlvr/unscorable"] == [0.0]
    accuracy = expected.components.get("accuracy", expected.reward)
    assert output["extra_logs"]["rlvr/accuracy"] == [accuracy]


def test_reward_func_file_form_is_loaded_and_called_by_openrlhf(agent, tokenizer, tmp_path, monkeypatch):
    path = tmp_path / "reward.py"
    path.write_text(
        "from rlvr.integrations.openrlhf import make_reward_func\nreward_func = make_reward_func('r1_math')\n"
    )
    executor = agent.SingleTurnAgentExecutor(str(path))
    output = _execute(
        agent, executor, tokenizer, _prompt(tokenizer, "7+5?"), "12", ["<think>x</think><answer>12</answer>"]
    )
    assert output["reward"].tolist() == pytest.approx([1.1]) and output["extra_logs"][
        "rlvr/format"
    ].tolist() == [1.0]

    monkeypatch.setenv("RLVR_REWARD_SPEC", "r1_math")
    monkeypatch.setattr(adapter, "_DEFAULT", None)
    executor = agent.SingleTurnAgentExecutor(adapter.__file__)  # the module itself is a reward file
    output = _execute(agent, executor, tokenizer, _prompt(tokenizer, "7+5?"), "12", ["<answer>13</answer>"])
    assert output["reward"].tolist() == [0.0]


def test_one_sample_requests_in_a_crowd_are_all_answered(agent):
    """OpenRLHF posts one sample per rollout, hundreds at once: a small queue makes them wait, not fail."""
    server = Served(max_queue="4")
    try:
        executor = agent.SingleTurnAgentExecutor(f"{server.http}/get_reward?spec=math")

        async def crowd():
            calls = [
                executor._fetch_rewards_via_http([f"Q{i} \\boxed{{{i}}}"], [f"Q{i} "], [str(i % 7)])
                for i in range(120)
            ]
            return await asyncio.gather(*calls)

        results = asyncio.run(crowd())
    finally:
        server.close()
    rewards = [batch[0]["rewards"][0] for batch in results]
    assert rewards == [1.0 if i == i % 7 else 0.0 for i in range(120)]


def test_gateway_rejects_bad_payloads_with_the_reason(served):
    url = f"{served.http}/get_reward"
    cases = [
        ({"prompts": ["p"]}, "query"),
        ({"query": ["p a"], "prompts": ["p"], "labels": [""]}, "ground truth"),
        (
            {"query": ["p a"], "prompts": ["p"], "labels": [{"ground_truth": "1", "data_source": "aime"}]},
            "aime",
        ),
        ({"query": ["x a"], "prompts": ["p"], "labels": ["1"]}, "does not contain its prompt"),
        ({"query": ["p a"], "prompts": ["p"], "labels": [{"answer": "1"}]}, "unknown keys"),
    ]
    for body, reason in cases:
        status, text = _post(url + "?spec=math" if "data_source" not in json.dumps(body) else url, body)
        assert status == 400 and reason in text, (body, text)
    assert _post(url + "?spec=no_such_spec", {"query": []})[0] == 400


def _post(url, body):
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_unscorable_answers_are_flagged_not_silent(served):
    protocol = adapter.RemoteReward(adapter.RewardScorer(spec="math"), unscorable_reward=-1.0)
    timeout = pb.VerifyResponse(status=pb.TIMEOUT, message="timed out")
    right = pb.VerifyResponse(status=pb.CORRECT, reward=1.0, components={"accuracy": 1.0})
    answer = protocol.answer([timeout, right])
    assert answer["rewards"] == [-1.0, 1.0] and answer["extra_logs"]["rlvr/unscorable"] == [1.0, 0.0]


def test_response_is_cut_from_the_decoded_query():
    prompt = "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n"
    assert adapter.response_of(prompt + "\\boxed{3}<|im_end|><|pad|>", prompt) == "\\boxed{3}"
    assert adapter.response_of("no prompt here", "") == "no prompt here"


def test_multi_turn_agent_instance_runs_an_rlvr_env_inside_openrlhfs_executor(agent, tokenizer):
    _, executor_cls = adapter.agent_classes(make_env, agent_module=agent)
    assert issubclass(executor_cls, agent.AgentExecutorBase)
    prompt = _prompt(tokenizer, "Compute 3 plus 4.")
    output = _execute(agent, executor_cls(), tokenizer, prompt, "7", ["\\boxed{8}", "\\boxed{7}"])
    assert output["reward"] == 1.0 and output["scores"] == 1.0  # wrong, told so, then right
    assert len(output["action_ranges"]) == 2
    text = tokenizer.decode(output["observation_tokens"])
    assert FEEDBACK in text and text.count("\\boxed") == 2
    assert output["extra_logs"]["rlvr/accuracy"] == 1.0 and output["extra_logs"]["rlvr/turn"] == 2.0

    output = _execute(agent, executor_cls(), tokenizer, prompt, "7", ["\\boxed{8}", "\\boxed{9}"])
    assert output["reward"] == 0.0 and len(output["action_ranges"]) == 2
