"""Reward-model scoring throughput: one `verify_batch` call (the batch verifier path) at several model
batch sizes, against one `verify` call per completion, on a locally built Qwen2 reward model.

Run: `python benchmarks/reward_model.py` (options: --requests, --hidden, --layers, --repeats, --threads).
Prints one table: median seconds per call and completions per second, with the ratio to the baseline
(one `verify` call per completion) measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

import rlvr
from rlvr.verifier.v1 import verifier_pb2 as pb


def build_model(folder: Path, hidden: int, layers: int) -> Path:
    """A random one-label Qwen2 sequence-classification dir with a BPE tokenizer trained in process."""
    from transformers import AutoModelForSequenceClassification, Qwen2Config

    from rlvr.agents.tiny import train_tokenizer

    texts = [f"What is {a} + {b}? So the answer is \\boxed{{{a + b}}}." for a in range(40) for b in range(40)]
    tokenizer = train_tokenizer(texts, vocab_size=512)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        num_labels=1,
    )
    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def make_requests(model: Path, count: int, batch_size: int, salt: int) -> list[pb.VerifyRequest]:
    """`count` distinct (prompt, completion) requests of varied length (no dedupe across runs: `salt`)."""
    requests = []
    for i in range(count):
        request = pb.VerifyRequest(
            id=str(i),
            verifier="reward_model",
            prompt=f"What is {i} + {salt}?",
            response=f"Let me add {i} and {salt}. " * (1 + i % 8)
            + f"So the answer is \\boxed{{{i + salt}}}.",
        )
        request.options.update({"model": str(model), "batch_size": batch_size})
        requests.append(request)
    return requests


def timed(run: Callable[[], object], repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        model = build_model(Path(folder), args.hidden, args.layers)
        rlvr.verify_batch(make_requests(model, 4, 4, salt=-1))  # load the model once (cached per process)
        counter = iter(range(10**6))

        def one_by_one() -> None:
            for request in make_requests(model, args.requests, 1, next(counter)):
                rlvr.verify(request)

        def batched(size: int) -> Callable[[], None]:
            return lambda: rlvr.verify_batch(make_requests(model, args.requests, size, next(counter)))

        rows = [("verify per completion (baseline)", timed(one_by_one, args.repeats))]
        for size in (1, 8, 32):
            rows.append((f"verify_batch, batch_size {size}", timed(batched(size), args.repeats)))
    baseline = rows[0][1]
    print(
        f"{args.requests} completions, Qwen2 hidden {args.hidden} x {args.layers} layers, {args.threads} thread(s)"
    )
    print(f"{'path':<34} {'median s':>9} {'compl/s':>9} {'speed-up':>9}")
    for name, seconds in rows:
        print(f"{name:<34} {seconds:>9.3f} {args.requests / seconds:>9.1f} {baseline / seconds:>8.2f}x")


if __name__ == "__main__":
    main()
