"""The policy: a causal LM (optionally with LoRA and a value head), its tokenizer, and the logprob pass."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rlvr.agents.batch import TensorBatch
from rlvr.errors import RlvrError


class ModelLoadError(RlvrError, ValueError):
    """The model dir cannot be loaded; the message says what is missing."""


@dataclass
class ForwardOutput:
    """Per completion token [n, T]: log pi(token), entropy (if asked) and value (if a value head)."""

    logp: torch.Tensor
    entropy: torch.Tensor | None
    values: torch.Tensor | None


def load_tokenizer(model_dir: str | Path, gguf_file: str | None = None) -> Any:
    """The tokenizer saved with the model; BPE tokenizers load as trained (ALGORITHMS.md §10 pitfall)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    check_model_dir(model_dir, gguf_file)
    if gguf_file:
        tokenizer = AutoTokenizer.from_pretrained(model_dir, gguf_file=gguf_file)
    elif (Path(model_dir) / "tokenizer.json").exists():
        tokenizer = PreTrainedTokenizerFast.from_pretrained(model_dir)
    else:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def check_model_dir(model_dir: str | Path, gguf_file: str | None = None) -> Path:
    """`model_dir` as a Path, or a `ModelLoadError` saying what is missing."""
    path = Path(model_dir)
    if not path.is_dir():
        raise ModelLoadError(
            f"model dir {model_dir} does not exist: pass a local Hugging Face model dir "
            "(config.json + weights), or model: tiny"
        )
    if gguf_file is not None and not (path / gguf_file).exists():
        raise ModelLoadError(f"model dir {model_dir} has no GGUF file {gguf_file}")
    if gguf_file is None and not (path / "config.json").exists():
        gguf_files = sorted(p.name for p in path.glob("*.gguf"))
        hint = f"; it holds {gguf_files[0]}: pass gguf_file: {gguf_files[0]}" if gguf_files else ""
        raise ModelLoadError(f"model dir {model_dir} has no config.json{hint}")
    return path


def load_model(
    model_dir: str | Path, *, gguf_file: str | None = None, dtype: torch.dtype = torch.float32
) -> Any:
    """`AutoModelForCausalLM.from_pretrained` with errors that say what to fix."""
    from transformers import AutoModelForCausalLM

    path = check_model_dir(model_dir, gguf_file)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, gguf_file=gguf_file, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load the model in {model_dir}: {exc}") from exc
    if gguf_file:
        # transformers de-quantises GGUF weights to `dtype` but keeps the model marked quantised, which
        # blocks save_pretrained; the weights are plain tensors, so the mark goes.
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    return model


class Policy(nn.Module):
    """The trained causal LM, an optional value head on its last hidden state, and its reference.

    `forward(batch)` scores the completion tokens of a `TensorBatch`: logits at position p score token
    p+1, divided by the sampling temperature (ALGORITHMS.md §1.1), with position ids from the attention
    mask so left padding gives the same logits as generation.
    """

    def __init__(self, model: Any, *, value_head: bool = False, temperature: float = 1.0):
        super().__init__()
        self.model = model
        self.temperature = temperature
        hidden = model.config.get_text_config().hidden_size
        self.value_head = nn.Linear(hidden, 1) if value_head else None
        if self.value_head is not None:
            nn.init.zeros_(self.value_head.weight)
            nn.init.zeros_(self.value_head.bias)
            self.value_head.to(next(model.parameters()).dtype)

    @property
    def uses_lora(self) -> bool:
        return hasattr(self.model, "disable_adapter")

    def forward(self, batch: TensorBatch, *, with_entropy: bool = False) -> ForwardOutput:  # type: ignore[override]
        return self._score(
            self.model, batch, with_entropy=with_entropy, with_values=self.value_head is not None
        )

    def _score(
        self, model: Any, batch: TensorBatch, *, with_entropy: bool, with_values: bool
    ) -> ForwardOutput:
        device = next(model.parameters()).device
        out = model(
            input_ids=batch.input_ids.to(device),
            attention_mask=batch.attention_mask.to(device),
            position_ids=batch.position_ids.to(device),
            output_hidden_states=with_values,
            use_cache=False,
        )
        width, length = batch.prompt_width, batch.response_ids.shape[1]
        logits = out.logits[:, width - 1 : width + length - 1].float() / self.temperature
        targets = batch.response_ids.to(device).unsqueeze(-1)
        logp = logits.gather(-1, targets).squeeze(-1) - torch.logsumexp(logits, dim=-1)
        entropy = _entropy(logits) if with_entropy else None
        values = None
        if with_values:
            assert self.value_head is not None
            hidden = out.hidden_states[-1][:, width - 1 : width + length - 1]
            values = self.value_head(hidden).squeeze(-1).float()
        return ForwardOutput(logp, entropy, values)

    @torch.no_grad()
    def reference_logp(self, batch: TensorBatch, reference: Any | None) -> torch.Tensor:
        """log pi_ref of the completion tokens: the frozen `reference`, or the base weights (LoRA off)."""
        with self._reference_model(reference) as model:
            return self._score(model, batch, with_entropy=False, with_values=False).logp

    @contextlib.contextmanager
    def _reference_model(self, reference: Any | None) -> Iterator[Any]:
        if reference is not None:
            yield reference
        elif self.uses_lora:
            with self.model.disable_adapter():
                yield self.model
        else:
            raise RuntimeError("a KL term needs a reference: pass a frozen copy or train with LoRA")


def make_reference(policy: Policy) -> Any | None:
    """A frozen copy of the starting weights, or None under LoRA (the base weights are the reference)."""
    import copy

    if policy.uses_lora:
        return None
    reference = copy.deepcopy(policy.model)
    reference.eval().requires_grad_(False)
    return reference


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    from rlvr.agents.losses import entropy_from_logits

    return entropy_from_logits(logits)
