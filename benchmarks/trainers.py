"""Trainer adapters: overhead of rlvr's reward inside TRL, and TRL GRPO vs `rlvr train --algo grpo`.

    python benchmarks/trainers.py                 # ~3-5 minutes on 2 cores
    python benchmarks/trainers.py --steps 20 --skip-parity

Every figure is a ratio to a baseline measured in the same run:
1. reward call: `rlvr.integrations.trl.reward_func` on a GRPO batch (TRL's keyword arguments) vs a
   direct `rlvr.verify_batch` of the same completions as ready-made VerifyRequest messages (in
   process, and through a real `rlvr serve` vs its `Client`); medians.
2. TRL step time: GRPOTrainer with the adapter vs with a hand-written reward function calling
   `rlvr.verify_batch` itself; median seconds per step (target: the adapter adds <= 5 %).
3. parity: the same tiny model (SFT warm start), env, reward, steps and batch trained with TRL's
   GRPOTrainer through the adapter and with `rlvr train --algo grpo`: seconds per step and greedy
   held-out pass@1 side by side.
Needs the `train` and `trl` extras.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ENV = "rlvr/Arithmetic-v0"
ENV_KWARGS = {"difficulty": 1, "system_prompt": ""}
HELD_OUT_SEED = 5_000_000


def _paired_medians(baseline: Any, ours: Any, repeats: int) -> tuple[float, float]:
    """Median seconds of two calls, alternated so that a change of the machine's load hits both."""
    baseline(), ours()  # warm up
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, bucket in ((baseline, times[0]), (ours, times[1])):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def _batch(rows: list[dict[str, Any]], group: int) -> tuple[list[dict[str, Any]], dict[str, list]]:
    """A GRPO batch: each row `group` times, half the completions right."""
    expanded = [row for row in rows for _ in range(group)]
    completions = [
        f"\\boxed{{{row['ground_truth']}}}" if i % 2 else f"\\boxed{{{i}}}" for i, row in enumerate(expanded)
    ]
    columns = {key: [row[key] for row in expanded] for key in expanded[0] if key != "prompt"}
    columns["prompts"] = [row["prompt"] for row in expanded]
    columns["completions"] = completions
    columns["completion_ids"] = [[1] * 6 for _ in expanded]
    return expanded, columns


def bench_reward_calls(repeats: int) -> list[tuple[str, float, float]]:
    import rlvr
    from rlvr.integrations.trl import env_rows, reward_func
    from rlvr.verifier_server.service.client import Client

    rows = env_rows(ENV, 8, env_kwargs=ENV_KWARGS)
    expanded, columns = _batch(rows, 8)
    spec = rlvr.load_spec(json.loads(rows[0]["reward_spec"]))
    requests = [
        rlvr.VerifyRequest(response=c, ground_truth=row["ground_truth"], reward_spec=spec, response_tokens=6)
        for c, row in zip(columns["completions"], expanded)
    ]
    local = reward_func()
    results = [
        (
            "reward call, in process (64 completions)",
            *_paired_medians(lambda: rlvr.verify_batch(requests), lambda: local(**columns), repeats),
        )
    ]
    server = _serve()
    try:
        client = Client(server[1])
        remote = reward_func(verifier=f"grpc://{server[1]}")
        results.append(
            (
                "reward call, through rlvr serve",
                *_paired_medians(lambda: client.verify_batch(requests), lambda: remote(**columns), repeats),
            )
        )
        client.close()
    finally:
        server[0].terminate()
        server[0].wait(30)
    return results


def _serve() -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "rlvr.cli", "serve", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("rlvr serve did not start")


def direct_reward(prompts, completions, ground_truth, reward_spec, **_):
    """What a user writes without the adapter: one rlvr.verify_batch, None for unknown rewards."""
    import rlvr

    spec = json.loads(reward_spec[0])
    texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]  # conversational rows
    answers = rlvr.verify_batch(
        [{"response": c, "ground_truth": t, "reward_spec": spec} for c, t in zip(texts, ground_truth)]
    )
    return [None if a.status in (4, 5, 6) else a.reward for a in answers]


class Timed:
    """A reward function that adds up the seconds spent inside it (TRL names it after the inner one)."""

    def __init__(self, inner: Any):
        self.inner, self.seconds, self.calls = inner, 0.0, 0
        self.__name__ = getattr(inner, "__name__", "reward")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.inner(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1


def row(name: str, base: float, ours: float, ratio: str, unit: str) -> None:
    scale = 1e3 if unit == "ms" else 1.0
    print(f"{name:52} {base * scale:10.4f}{unit:>2} {ours * scale:10.4f}{unit:>2} {ratio:>7}")


def train_trl(
    model_dir: Path, out: Path, reward: Any, steps: int, lr: float, seed: int
) -> tuple[list[float], Any]:
    import trl
    from transformers import AutoModelForCausalLM

    from rlvr.agents.policy import load_tokenizer
    from rlvr.integrations.trl import env_dataset

    args = trl.GRPOConfig(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=32,  # 4 prompts x 8 completions, one optimizer step each, as rlvr train
        num_generations=8,
        max_completion_length=12,
        learning_rate=lr,
        beta=0.0,
        temperature=1.0,
        bf16=False,
        gradient_checkpointing=False,
        use_cpu=True,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
        seed=seed,
        disable_tqdm=True,
    )
    trainer = trl.GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(model_dir),
        reward_funcs=[reward],
        args=args,
        train_dataset=env_dataset(ENV, 4 * steps, seed=seed, env_kwargs=ENV_KWARGS),
        processing_class=load_tokenizer(model_dir),
    )
    trainer.train()
    step_times = [e["step_time"] for e in trainer.state.log_history if "step_time" in e]
    return step_times, trainer.model


def train_rlvr(model_dir: Path, out: Path, steps: int, lr: float, seed: int) -> tuple[list[float], Path]:
    command = [sys.executable, "-m", "rlvr.cli", "train", "--model", str(model_dir), "--algo", "grpo"]
    command += ["--env", ENV, "--env-kwargs", json.dumps(ENV_KWARGS), "--steps", str(steps)]
    command += ["--prompts-per-step", "4", "--group-size", "8", "--max-new-tokens", "12", "--lr", str(lr)]
    command += ["--beta", "0", "--sft-steps", "0", "--eval-every", "0", "--save-every", "0"]
    command += ["--no-progress", "--no-tensorboard", "--output-dir", str(out), "--seed", str(seed)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["time/step"] for r in records if "time/step" in r], out / "final"


def warm_start(model_dir: Path, out: Path, sft_steps: int, seed: int = 0) -> Path:
    """SFT warm start on the env's own boxed answers (ALGORITHMS.md §10), so both trainers start from
    a policy that sometimes answers right; saved as a model dir."""
    import gymnasium
    import torch
    from transformers import AutoModelForCausalLM

    import rlvr.envs  # noqa: F401
    from rlvr.agents.policy import load_tokenizer

    torch.manual_seed(seed)
    tokenizer = load_tokenizer(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    env = gymnasium.make(ENV, observation="chat", **ENV_KWARGS)
    model.train()
    for step in range(sft_steps):
        ids, labels = [], []
        for i in range(32):
            observation, _ = env.reset(seed=9_000_000 + step * 32 + i)
            prompt = tokenizer.apply_chat_template(
                list(observation), add_generation_prompt=True, tokenize=False
            )
            p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            a = tokenizer(f"\\boxed{{{env.unwrapped.task.ground_truth}}}", add_special_tokens=False)[
                "input_ids"
            ]
            a = [*a, tokenizer.eos_token_id]
            ids.append(p + a)
            labels.append([-100] * len(p) + a)
        width = max(map(len, ids))
        batch = torch.tensor([x + [tokenizer.pad_token_id] * (width - len(x)) for x in ids])
        target = torch.tensor([y + [-100] * (width - len(y)) for y in labels])
        mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
        loss = model(input_ids=batch, attention_mask=mask, labels=target).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def pass_at_1(model: Any, tokenizer: Any, tasks: int) -> float:
    """Greedy held-out pass@1 on seeds the training streams do not use, scored with the env's spec."""
    import gymnasium
    import torch

    import rlvr
    import rlvr.envs  # noqa: F401

    env = gymnasium.make(ENV, observation="chat", **ENV_KWARGS)
    prompts, requests = [], []
    for i in range(tasks):
        observation, _ = env.reset(seed=HELD_OUT_SEED + i)
        prompts.append(
            tokenizer.apply_chat_template(list(observation), add_generation_prompt=True, tokenize=False)
        )
        requests.append(env.unwrapped.task.request_template(env.unwrapped.reward_spec))
    model.eval()
    correct = 0
    for start in range(0, tasks, 50):
        batch = tokenizer(
            prompts[start : start + 50], return_tensors="pt", padding=True, add_special_tokens=False
        )
        with torch.no_grad():
            out = model.generate(
                **batch, do_sample=False, max_new_tokens=12, pad_token_id=tokenizer.pad_token_id
            )
        texts = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        chunk = requests[start : start + 50]
        for request, text in zip(chunk, texts):
            request.response = text
        correct += sum(a.status == 1 for a in rlvr.verify_batch(chunk))
    return correct / tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="training steps of each run")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--sft-steps", type=int, default=150)
    parser.add_argument("--eval-tasks", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=30, help="timed repeats of each reward call")
    parser.add_argument("--skip-parity", action="store_true", help="only the overhead sections")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of every run (both trainers)")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the rlvr train subprocesses

    import torch

    torch.set_num_threads(args.threads)

    from transformers import AutoModelForCausalLM

    from rlvr.agents.policy import load_tokenizer
    from rlvr.agents.tiny import build_tiny_for_env
    from rlvr.integrations.trl import reward_func

    print(f"{'measure':52} {'baseline':>12} {'rlvr':>12} {'ratio':>7}")
    for name, base, ours in bench_reward_calls(args.repeats):
        row(name, base, ours, f"{ours / base:7.3f}", "ms")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tiny = build_tiny_for_env(root / "tiny", ENV, ENV_KWARGS)
        start = warm_start(tiny, root / "sft", args.sft_steps) if args.sft_steps else tiny
        tokenizer = load_tokenizer(start)

        direct, adapter = Timed(direct_reward), Timed(reward_func())
        direct_times, _ = train_trl(start, root / "trl-direct", direct, args.steps, args.lr, 0)
        adapter_times, trl_model = train_trl(start, root / "trl-adapter", adapter, args.steps, args.lr, 0)
        # The first step warms caches: medians over the rest. Step times swing with the machine's
        # load; the time spent inside the reward function is measured exactly.
        base, ours = statistics.median(direct_times[1:]), statistics.median(adapter_times[1:])
        row("TRL GRPO s/step: adapter vs hand-written reward", base, ours, f"{ours / base:7.3f}", "s")
        per_base, per_ours = direct.seconds / direct.calls, adapter.seconds / adapter.calls
        row("  seconds inside the reward per step", per_base, per_ours, f"{per_ours / per_base:7.3f}", "s")
        extra = per_ours - per_base
        row("  adapter's extra reward time vs the TRL step", base, extra, f"{extra / base:+7.1%}", "s")
        if args.skip_parity:
            return
        rlvr_times, rlvr_dir = train_rlvr(start, root / "rlvr", args.steps, args.lr, 0)
        ours = statistics.median(rlvr_times[1:])
        base = statistics.median(adapter_times[1:])
        row("s/step: rlvr train --algo grpo vs TRL GRPOTrainer", base, ours, f"{ours / base:7.3f}", "s")
        initial = pass_at_1(AutoModelForCausalLM.from_pretrained(start), tokenizer, args.eval_tasks)
        trl_pass = pass_at_1(trl_model, tokenizer, args.eval_tasks)
        rlvr_pass = pass_at_1(AutoModelForCausalLM.from_pretrained(rlvr_dir), tokenizer, args.eval_tasks)
        name = f"held-out greedy pass@1, TRL vs rlvr (start {initial:.3f})"
        print(f"{name:52} {trl_pass:12.3f} {rlvr_pass:12.3f} {rlvr_pass - trl_pass:+7.3f}")


if __name__ == "__main__":
    main()
