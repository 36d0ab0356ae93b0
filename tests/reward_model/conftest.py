"""Tiny reward models built in process (a BPE tokenizer + a Qwen2 config, `save_pretrained`): nothing downloaded."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

TEXTS = [
    f"What is {a} + {b}? {a} + {b} = {a + b}, so \\boxed{{{a + b}}}. I guess {a * b}."
    for a in range(12)
    for b in range(12)
]


def build_reward_model(folder: Path, *, head: bool = True, num_labels: int = 1, seed: int = 0) -> Path:
    """A random 2-layer Qwen2 sequence-classification dir (or, `head=False`, a causal LM without a score head)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, Qwen2Config

    from rlvr.agents.tiny import train_tokenizer

    tokenizer = train_tokenizer(TEXTS, vocab_size=300)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        num_labels=num_labels,
    )
    torch.manual_seed(seed)
    cls = AutoModelForSequenceClassification if head else AutoModelForCausalLM
    cls.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def reward_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_reward_model(tmp_path_factory.mktemp("rm"))


@pytest.fixture(scope="session")
def causal_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_reward_model(tmp_path_factory.mktemp("lm"), head=False)


def write_arithmetic_pairs(path: Path, count: int, seed: int = 0) -> Path:
    """A learnable preference set: chosen works the sum out and boxes it, rejected guesses a wrong number."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as sink:
        for _ in range(count):
            a, b = rng.randint(1, 30), rng.randint(1, 30)
            wrong = a + b + rng.choice([-3, -2, -1, 1, 2, 3])
            row = {
                "prompt": f"What is {a} + {b}?",
                "chosen": f"{a} + {b} = {a + b}, so \\boxed{{{a + b}}}",
                "rejected": f"I guess {wrong}.",
            }
            sink.write(json.dumps(row) + "\n")
    return path
