"""The tiny offline model: a real HF checkpoint whose tokenizer round-trips as trained."""

from __future__ import annotations

from transformers import AutoModelForCausalLM

from rlvr.agents.policy import load_tokenizer


def test_saved_tokenizer_round_trips_to_the_same_ids(tiny_model):
    from rlvr.agents.tiny import train_tokenizer

    tokenizer = load_tokenizer(tiny_model)
    text = "Compute 11 minus 13. \\boxed{-2}"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    assert len(tokenizer.tokenize(" 13")) == 1, (
        "small numbers are single tokens (trained on the env's prompts)"
    )
    assert tokenizer.padding_side == "left" and tokenizer.pad_token_id != tokenizer.eos_token_id
    fresh = train_tokenizer(["Compute 11 minus 13."] * 50)
    assert fresh.eos_token == "<|im_end|>"


def test_tiny_model_is_a_loadable_checkpoint_with_a_chat_template(tiny_model):
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    tokenizer = load_tokenizer(tiny_model)
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Compute 2 plus 3."}], add_generation_prompt=True
    )
    assert model.config.eos_token_id == tokenizer.eos_token_id
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    assert tokenizer.decode(ids["input_ids"]).endswith("<|im_start|>assistant\n")
