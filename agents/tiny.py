"""A tiny offline causal LM for tests and demos: a BPE tokenizer trained in process and a small
Qwen2/Llama model built from a config, saved as a real Hugging Face checkpoint (ALGORITHMS.md §9).

Nothing is downloaded. The tokenizer is a byte-level BPE trained on the env's own prompts and answers
(so small numbers are single tokens), with `<|pad|>`, `<|im_start|>` and `<|im_end|>` (the EOS) and a
ChatML template; load it back with `PreTrainedTokenizerFast.from_pretrained` (ALGORITHMS.md §10:
`AutoTokenizer` may pick a class that re-splits numbers).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

PAD, BOS, EOS = "<|pad|>", "<|im_start|>", "<|im_end|>"
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
#: The answer format of tiny-model demos (and of the SFT warm start's targets).
ANSWER_FORMAT = "\\boxed{{{answer}}}"


def env_corpus(env_id: str, env_kwargs: dict[str, Any] | None = None, *, tasks: int = 2000) -> Iterator[str]:
    """Prompts and boxed answers of `tasks` tasks of `env_id` (seeds 0..tasks-1), for training the BPE."""
    import gymnasium

    import rlvr.envs  # noqa: F401 - registers the ids

    env = gymnasium.make(env_id, **(env_kwargs or {}))
    try:
        for seed in range(tasks):
            prompt, _ = env.reset(seed=seed)
            yield prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)
            yield ANSWER_FORMAT.format(answer=env.unwrapped.task.ground_truth)  # type: ignore[attr-defined]
    finally:
        env.close()


def train_tokenizer(texts: Iterable[str], *, vocab_size: int = 512):
    """A byte-level BPE `PreTrainedTokenizerFast` trained on `texts`, left-padded, with a ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, pad_token=PAD, eos_token=EOS, bos_token=BOS, padding_side="left"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(
    output_dir: str | Path,
    texts: Iterable[str],
    *,
    architecture: Literal["qwen2", "llama"] = "qwen2",
    hidden_size: int = 128,
    layers: int = 2,
    heads: int = 4,
    vocab_size: int = 512,
    max_positions: int = 512,
    seed: int = 0,
) -> Path:
    """Train a tokenizer on `texts`, build a randomly initialised model and `save_pretrained` both.

    Returns `output_dir`, a model dir any `from_pretrained` loads. Same `texts` and `seed`: same model.
    """
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    tokenizer = train_tokenizer(texts, vocab_size=vocab_size)
    config_class = Qwen2Config if architecture == "qwen2" else LlamaConfig
    config = config_class(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    out = Path(output_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_tiny_for_env(
    output_dir: str | Path, env_id: str, env_kwargs: dict[str, Any] | None = None, **model_kwargs: Any
) -> Path:
    """`build_tiny_model` with a tokenizer trained on `env_id`'s prompts and answers (`rlvr train --model tiny`)."""
    return build_tiny_model(output_dir, env_corpus(env_id, env_kwargs), **model_kwargs)
