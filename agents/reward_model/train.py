"""Bradley–Terry reward-model training: loss −log σ(r_chosen − r_rejected) over preference pairs.

The model is an `AutoModelForSequenceClassification` with one label, started from a local causal-LM
or sequence-classification dir (or a tiny model built offline); pairs are encoded exactly as the
`reward_model` verifier encodes them, so the saved dir scores what it learned.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from rlvr.agents.metrics import MetricsLog
from rlvr.agents.policy import ModelLoadError
from rlvr.agents.reward_model.data import PreferenceDataError, PreferencePair, read_pairs
from rlvr.verifier_server.verifiers.reward_model import (
    Encoded,
    encode,
    load_tokenizer,
    model_context,
    pad_batch,
    quiet_transformers,
)

#: Learning rates when `lr` is not given: tiny random models need large steps (ALGORITHMS.md §9).
TINY_LR, PRETRAINED_LR = 3e-3, 1e-5


@dataclass
class RewardModelConfig:
    """What `rlvr rm train` trains: data, base model, optimisation and the held-out split."""

    data: Path
    output: Path
    model: str = "tiny"
    tokenizer: str | None = None
    epochs: int = 1
    batch_size: int = 8
    lr: float | None = None
    weight_decay: float = 0.0
    max_length: int = 512
    eval_fraction: float = 0.1
    eval_every: int = 0
    pairs_per_prompt: int = 4
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    progress: bool = True


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """Mean over pairs of −log σ(r_chosen − r_rejected)."""
    return -F.logsigmoid(chosen - rejected).mean()


def pair_accuracy(chosen: torch.Tensor, rejected: torch.Tensor) -> float:
    """Fraction of pairs whose chosen completion scores strictly above the rejected one."""
    return (chosen > rejected).float().mean().item()


def split_pairs(
    pairs: Sequence[PreferencePair], eval_fraction: float, seed: int
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(train, held-out) split by prompt, so held-out pairs ask prompts training never saw."""
    if not 0 <= eval_fraction < 1:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    groups = sorted({p.group for p in pairs})
    random.Random(seed).shuffle(groups)
    held = set(groups[: round(len(groups) * eval_fraction)])
    if eval_fraction > 0 and not held and len(groups) > 1:
        held = {groups[0]}
    return [p for p in pairs if p.group not in held], [p for p in pairs if p.group in held]


def load_base(cfg: RewardModelConfig, pairs: Sequence[PreferencePair]) -> tuple[Any, Any]:
    """The model to train (one-label sequence classification) and its tokenizer; `tiny` is built on the pairs."""
    if cfg.model != "tiny":
        return _load_for_training(cfg.model, cfg.tokenizer or cfg.model)
    from rlvr.agents.tiny import build_tiny_model

    texts = [text for p in pairs for text in (p.prompt, p.chosen, p.rejected)]
    with tempfile.TemporaryDirectory(prefix="rlvr-rm-tiny-") as tiny:
        build_tiny_model(tiny, texts, seed=cfg.seed)
        return _load_for_training(tiny, tiny)


def _load_for_training(model_dir: str, tokenizer_dir: str) -> tuple[Any, Any]:
    from transformers import AutoModelForSequenceClassification

    for what, folder in (("model", model_dir), ("tokenizer", tokenizer_dir)):
        if not Path(folder).is_dir():
            raise ModelLoadError(
                f"{what} dir {folder} does not exist: pass a local Hugging Face model dir, or --model tiny"
            )
    if not (Path(model_dir) / "config.json").is_file():
        raise ModelLoadError(
            f"model dir {model_dir} has no config.json: pass a local Hugging Face model dir, or --model tiny"
        )
    try:
        with quiet_transformers():  # the new score head is "missing from the checkpoint" by design
            model = AutoModelForSequenceClassification.from_pretrained(
                model_dir, num_labels=1, dtype=torch.float32
            )
            tokenizer = load_tokenizer(Path(tokenizer_dir))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"cannot load {model_dir} as a sequence-classification model: {exc}") from exc
    embeddings = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > embeddings:
        raise ModelLoadError(
            f"the tokenizer in {tokenizer_dir} has {len(tokenizer)} tokens but the model in {model_dir} embeds "
            f"{embeddings}: they do not belong together; pass the tokenizer saved with the model (--tokenizer)"
        )
    if model.config.pad_token_id is None:
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad is None:
            raise ModelLoadError(f"the tokenizer in {tokenizer_dir} has neither a pad nor an EOS token")
        model.config.pad_token_id = pad
    return model, tokenizer


def _rewards(model: Any, encoded: Sequence[Encoded]) -> torch.Tensor:
    input_ids, mask = pad_batch([e.ids for e in encoded], model.config.pad_token_id)
    return model(input_ids=input_ids.to(model.device), attention_mask=mask.to(model.device)).logits[:, 0]


def evaluate(
    model: Any, pairs: Sequence[tuple[Encoded, Encoded]], batch_size: int
) -> dict[str, float] | None:
    """Held-out pair accuracy, Bradley–Terry loss and mean margin (None without pairs)."""
    if not pairs:
        return None
    model.eval()
    chosen, rejected = [], []
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            batch = pairs[start : start + batch_size]
            scores = _rewards(model, [c for c, _ in batch] + [r for _, r in batch])
            chosen.append(scores[: len(batch)])
            rejected.append(scores[len(batch) :])
    model.train()
    c, r = torch.cat(chosen), torch.cat(rejected)
    return {
        "eval/accuracy": pair_accuracy(c, r),
        "eval/loss": bradley_terry_loss(c, r).item(),
        "eval/margin": (c - r).mean().item(),
        "eval/score_mean": torch.cat([c, r]).mean().item(),
        "eval/score_std": torch.cat([c, r]).std().item() if len(c) > 1 else 0.0,
    }


def train_reward_model(cfg: RewardModelConfig) -> dict[str, Any]:
    """Train on `cfg.data`, save the model + tokenizer in `cfg.output` and return the summary it writes
    beside them (`reward_model.json`); per-step metrics go to `cfg.output/metrics.jsonl`."""
    from tqdm import tqdm

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.max_length < 2:
        raise ValueError(
            f"epochs and batch_size must be >= 1 and max_length >= 2, got {cfg.epochs}, {cfg.batch_size}, "
            f"{cfg.max_length}"
        )
    pairs = read_pairs(cfg.data, pairs_per_prompt=cfg.pairs_per_prompt)
    train, held = split_pairs(pairs, cfg.eval_fraction, cfg.seed)
    if not train:
        raise PreferenceDataError(f"{cfg.data}: every pair went to the held-out split; lower --eval-fraction")
    torch.manual_seed(cfg.seed)
    model, tokenizer = load_base(cfg, pairs)
    device = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    max_length = min(cfg.max_length, model_context(model, tokenizer))

    def encoded(subset: Sequence[PreferencePair]) -> list[tuple[Encoded, Encoded]]:
        return [
            (
                encode(tokenizer, p.prompt, p.chosen, max_length),
                encode(tokenizer, p.prompt, p.rejected, max_length),
            )
            for p in subset
        ]

    train_set, held_set = encoded(train), encoded(held)
    lr = cfg.lr if cfg.lr is not None else (TINY_LR if cfg.model == "tiny" else PRETRAINED_LR)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = -(-len(train_set) // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    eval_every = cfg.eval_every or steps_per_epoch
    cfg.output.mkdir(parents=True, exist_ok=True)
    log = MetricsLog(cfg.output, tensorboard=False, resume=False)
    order = random.Random(cfg.seed)
    bar = tqdm(total=total, desc="rm train", unit="step", dynamic_ncols=True, disable=not cfg.progress)
    model.train()
    step, last_eval = 0, evaluate(model, held_set, cfg.batch_size)
    if last_eval:
        log.log(0, last_eval)
    try:
        for epoch in range(cfg.epochs):
            indices = list(range(len(train_set)))
            order.shuffle(indices)
            for start in range(0, len(indices), cfg.batch_size):
                batch = [train_set[i] for i in indices[start : start + cfg.batch_size]]
                scores = _rewards(model, [c for c, _ in batch] + [r for _, r in batch])
                chosen, rejected = scores[: len(batch)], scores[len(batch) :]
                loss = bradley_terry_loss(chosen, rejected)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step += 1
                metrics: dict[str, Any] = {
                    "epoch": epoch,
                    "loss": loss.item(),
                    "accuracy": pair_accuracy(chosen.detach(), rejected.detach()),
                    "margin": (chosen - rejected).mean().item(),
                }
                if step % eval_every == 0 or step == total:
                    last_eval = evaluate(model, held_set, cfg.batch_size) or last_eval
                    metrics.update(last_eval or {})
                log.log(step, metrics)
                bar.update()
                bar.set_postfix(
                    loss=f"{metrics['loss']:.3f}",
                    held_acc=f"{last_eval['eval/accuracy']:.2f}" if last_eval else "-",
                )
    finally:
        bar.close()
        log.close()
    with quiet_transformers():
        model.save_pretrained(cfg.output)
        tokenizer.save_pretrained(cfg.output)
    summary = {
        "base_model": cfg.model,
        "pairs": {
            "train": len(train_set),
            "held_out": len(held_set),
            "truncated": sum(c.truncated or r.truncated for c, r in train_set + held_set),
        },
        "steps": step,
        "lr": lr,
        "max_length": max_length,
        "device": device,
        "held_out": last_eval,
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
    }
    (cfg.output / "reward_model.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
