"""Checkpoints: loadable HF model dirs (`initial/`, `final/`, `checkpoints/step-N/`) plus exact-resume state."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlvr.agents.policy import Policy

RUN_FILE = "rlvr_train.json"
STATE_FILE = "trainer_state.pt"


def save_model_dir(path: Path, policy: Policy, tokenizer: Any, run: dict[str, Any]) -> Path:
    """A self-contained HF model dir (LoRA merged in) with the tokenizer and `rlvr_train.json`."""
    path.mkdir(parents=True, exist_ok=True)
    model = policy.model
    if policy.uses_lora:
        import copy

        model = copy.deepcopy(model).merge_and_unload()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    if policy.value_head is not None:
        torch.save(policy.value_head.state_dict(), path / "value_head.pt")
    (path / RUN_FILE).write_text(json.dumps(run, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def save_checkpoint(
    path: Path,
    policy: Policy,
    tokenizer: Any,
    optimizer: Any,
    scheduler: Any,
    state: dict[str, Any],
    run: dict,
) -> Path:
    """`save_model_dir` plus everything a resume needs: trainable weights, optimizer, scheduler, RNGs, state."""
    save_model_dir(path, policy, tokenizer, run)
    trainable = {name: p.detach().cpu() for name, p in policy.named_parameters() if p.requires_grad}
    torch.save(
        {
            "trainable": trainable,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "state": state,
            "rng": {
                "python": random.getstate(),
                "numpy": np.random.get_state(),
                "torch": torch.get_rng_state(),
            },
        },
        path / STATE_FILE,
    )
    return path


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The newest `checkpoints/step-N` holding a complete trainer state, if any."""
    candidates = [p for p in (output_dir / "checkpoints").glob("step-*") if (p / STATE_FILE).exists()]
    return max(candidates, key=lambda p: int(p.name.split("-")[1]), default=None)


def load_checkpoint(path: Path, policy: Policy, optimizer: Any, scheduler: Any) -> dict[str, Any]:
    """Restore a checkpoint into `policy`, `optimizer` and `scheduler`; returns the trainer state."""
    saved = torch.load(path / STATE_FILE, map_location="cpu", weights_only=False)
    parameters = dict(policy.named_parameters())
    with torch.no_grad():
        for name, value in saved["trainable"].items():
            parameters[name].copy_(value)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    random.setstate(saved["rng"]["python"])
    np.random.set_state(saved["rng"]["numpy"])
    torch.set_rng_state(saved["rng"]["torch"])
    return saved["state"]
