"""Run under torchrun by test_distributed.py: one update on a fixed global batch, or a short full run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from rlvr.agents.batch import Trajectory
from rlvr.agents.config import load_config
from rlvr.agents.distributed import close_world, init_world
from rlvr.agents.trainer import Trainer

GLOBAL_ROWS, GROUP = 16, 4


def fixed_global_batch(vocab: int, eos: int) -> list[Trajectory]:
    """16 rows (4 groups of 4) of random prompts, completions and 0/1 scores, the same on every rank."""
    generator = torch.Generator().manual_seed(0)
    rows = []
    for i in range(GLOBAL_ROWS):
        prompt = torch.randint(
            3, vocab, (int(torch.randint(3, 9, (1,), generator=generator)),), generator=generator
        )
        length = int(torch.randint(1, 7, (1,), generator=generator))
        completion = [*torch.randint(3, vocab, (length,), generator=generator).tolist(), eos]
        score = float(torch.randint(0, 2, (1,), generator=generator))
        t = Trajectory(prompt.tolist(), group=i // GROUP)
        t.add_model_turn(completion, [-1.0] * len(completion), score)
        rows.append(t)
    return rows


def main() -> None:
    mode, overrides_json, out = sys.argv[1], sys.argv[2], sys.argv[3]
    world = init_world()
    trainer = Trainer(load_config(None, json.loads(overrides_json)), world=world)
    if mode == "update":
        tokenizer = trainer.tokenizer
        rows = fixed_global_batch(len(tokenizer), tokenizer.eos_token_id)
        share = GLOBAL_ROWS // world.size
        data = trainer.prepare(rows[world.rank * share : (world.rank + 1) * share])
        trainer.update(data)
        if world.is_main:
            torch.save(torch.cat([p.detach().reshape(-1) for p in trainer.policy.parameters()]), out)
    else:
        result = trainer.train()
        if world.is_main:
            Path(out).write_text(json.dumps({"steps": result.steps, "final": result.final_eval}))
    close_world(world)


if __name__ == "__main__":
    main()
