"""Train a Bradley–Terry reward model on preference pairs, then score completions with it next to `math`.

Run from the checkout: `python examples/reward_model.py` (about a minute on 2 CPU cores). It writes
synthetic pairs (chosen: the worked, boxed sum; rejected: a wrong guess), trains a tiny model built
offline (`rlvr rm train --model tiny` does the same), and verifies three completions with the spec in
examples/math_plus_reward_model.yaml.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import rlvr
from rlvr.agents.reward_model.train import RewardModelConfig, train_reward_model
from rlvr.verifier_server.engine.specs import load_spec, spec_to_dict

RUN = Path("runs/reward_model")


def write_pairs(path: Path, count: int = 200) -> Path:
    rng = random.Random(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as sink:
        for _ in range(count):
            a, b = rng.randint(1, 30), rng.randint(1, 30)
            wrong = a + b + rng.choice([-2, -1, 1, 2])
            row = {"prompt": f"What is {a} + {b}?", "chosen": f"{a} + {b} = {a + b}, so \\boxed{{{a + b}}}"}
            sink.write(json.dumps({**row, "rejected": f"I guess {wrong}."}) + "\n")
    return path


def main() -> None:
    pairs = write_pairs(Path("runs/preference_pairs.jsonl"))
    summary = train_reward_model(RewardModelConfig(data=pairs, output=RUN, epochs=2, threads=1))
    print("held-out pair accuracy:", summary["held_out"]["eval/accuracy"])

    spec = spec_to_dict(load_spec(Path(__file__).with_name("math_plus_reward_model.yaml")))
    spec["terms"][1]["options"]["normalize"] = "none"  # raw scores, so three completions read plainly
    for completion in ["12 + 5 = 17, so \\boxed{17}", "I guess \\boxed{17}.", "I guess 18."]:
        request = {
            "prompt": "What is 12 + 5?",
            "response": completion,
            "ground_truth": "17",
            "reward_spec": spec,
        }
        response = rlvr.verify(request)
        print(f"{completion!r:34} reward {response.reward:+.3f}  {dict(response.components)}")


if __name__ == "__main__":
    main()
