"""Rollout speed: the `hf` backend against a bare `model.generate` of the same batch (its physical limit).

    python benchmarks/rollout.py [--rows 64] [--new-tokens 32] [--repeats 7]

Both sample the same left-padded prompts of the tiny offline model with the same settings; the backend
also returns per-token logprobs and cuts at EOS. Prints p50 seconds and tokens/s of each and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from rlvr.agents.policy import load_model, load_tokenizer
from rlvr.agents.rollout.base import SamplingParams
from rlvr.agents.rollout.hf import HFBackend
from rlvr.agents.tiny import build_tiny_for_env


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_for_env(tmp, "rlvr/Arithmetic-v0", {"system_prompt": ""})
        model, tokenizer = load_model(path), load_tokenizer(path)
        model.eval()
        texts = [f"Compute {i % 20 + 1} plus {i % 7 + 2}." * (1 + i % 3) for i in range(args.rows)]
        prompts = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        encoded = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt")
        backend = HFBackend(model, tokenizer)
        params = SamplingParams(max_new_tokens=args.new_tokens, temperature=1.0)

        def bare() -> int:
            with torch.no_grad():
                out = model.generate(
                    **encoded,
                    do_sample=True,
                    temperature=1.0,
                    top_k=None,
                    max_new_tokens=args.new_tokens,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
            completions = out[:, encoded["input_ids"].shape[1] :]
            return int((completions != tokenizer.pad_token_id).sum())

        def ours() -> int:
            return sum(len(g.token_ids) for g in backend.generate(prompts, params))

        timings: dict[str, list[tuple[float, int]]] = {"bare model.generate": [], "hf backend": []}
        for repeat in range(args.repeats + 1):
            for name, fn in (("bare model.generate", bare), ("hf backend", ours)):
                torch.manual_seed(repeat)
                start = time.perf_counter()
                tokens = fn()
                if repeat:  # the first round warms up
                    timings[name].append((time.perf_counter() - start, tokens))
    print(
        f"{args.rows} prompts x up to {args.new_tokens} new tokens, tiny model, {args.repeats} repeats (p50)"
    )
    print(f"{'':<22} {'seconds':>9} {'tokens/s':>10} {'ratio':>7}")
    base = None
    for name, runs in timings.items():
        seconds = statistics.median(s for s, _ in runs)
        rate = statistics.median(t / s for s, t in runs)
        base = base or rate
        print(f"{name:<22} {seconds:>9.4f} {rate:>10.0f} {rate / base:>7.3f}")


if __name__ == "__main__":
    main()
