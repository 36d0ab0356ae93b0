"""`TrainConfig`: every setting of `rlvr train`, validated, from YAML plus command-line overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rlvr.agents.presets import ALGOS, preset_values
from rlvr.errors import RlvrError

Advantage = Literal["ema", "rloo", "grpo", "dr_grpo", "reinforce_pp", "reinforce_pp_baseline", "gae"]
Aggregation = Literal[
    "token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm", "dr-grpo"
]


class ConfigError(RlvrError, ValueError):
    """A config key or value `rlvr train` cannot use; the message names it and says what is accepted."""


class LoRAConfig(BaseModel):
    """Low-rank adapters (peft): only the adapters train; the reference is the base with adapters off."""

    model_config = ConfigDict(extra="forbid")
    r: int = Field(16, gt=0, description="adapter rank")
    alpha: int = Field(32, gt=0, description="scaling numerator (scale = alpha / r)")
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] | str = Field("all-linear", description="module names, or 'all-linear'")


class TrainConfig(BaseModel):
    """One training run. Fields left `None` take the value of the `algo` preset (see `presets.py`)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # -- what to train on what
    model: str = Field("tiny", description="a local HF model dir, or 'tiny' (built offline for the env)")
    gguf_file: str | None = Field(
        None, description="GGUF file name inside `model` (transformers' GGUF loading)"
    )
    env: str = Field("rlvr/Arithmetic-v0", description="any registered rlvr/... env id")
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the env")
    verifier: str | None = Field(
        None, description="None: in process; 'grpc://host:port': a running rlvr serve"
    )
    chat_template: bool | None = Field(
        None, description="wrap prompts with the tokenizer's chat template (None: when it has one)"
    )
    output_dir: Path = Field(Path("runs/rlvr"), description="checkpoints, metrics.jsonl, curves.png")
    seed: int = Field(0, description="seeds torch, sampling and the training task stream")

    # -- algorithm
    algo: str = Field("grpo", description=f"preset: {', '.join(ALGOS)}")
    advantage: Advantage | None = Field(None, description="advantage estimator")
    loss_agg: Aggregation | None = Field(None, description="loss aggregation mode (ALGORITHMS.md §1.3)")
    use_ratio: bool | None = Field(
        None, description="importance ratio and clipping (False: plain REINFORCE loss)"
    )
    eps_low: float | None = Field(None, ge=0, description="clip range below 1")
    eps_high: float | None = Field(None, ge=0, description="clip range above 1 (DAPO clip-higher: 0.28)")
    dual_clip: float | None = Field(None, gt=1, description="dual-clip constant c for negative advantages")
    scale_rewards: Literal["group", "batch", "none"] | None = Field(
        None, description="GRPO std scaling (None: by advantage)"
    )
    beta: float | None = Field(
        None, ge=0, description="KL coefficient to the reference (0: no reference model)"
    )
    kl_estimator: Literal["k1", "k2", "k3"] | None = Field(None, description="KL estimator")
    kl_placement: Literal["reward", "loss"] | None = Field(
        None, description="KL in the token rewards or in the loss"
    )
    kl_target: float | None = Field(None, gt=0, description="adaptive KL target (None: fixed coefficient)")
    kl_horizon: int = Field(10000, gt=0, description="adaptive KL horizon")
    entropy_coef: float = Field(0.0, description="entropy bonus coefficient")
    epochs: int | None = Field(None, ge=1, description="optimisation passes over each rollout batch (mu)")
    minibatches: int | None = Field(None, ge=1, description="optimizer steps per epoch")
    gamma: float | None = Field(None, ge=0, le=1, description="discount")
    lam: float | None = Field(None, ge=0, le=1, description="GAE lambda")
    vf_coef: float | None = Field(None, ge=0, description="value-loss coefficient (PPO)")
    value_clip: float | None = Field(None, gt=0, description="value clipping range (PPO)")
    ema_decay: float = Field(0.9, ge=0, lt=1, description="EMA baseline decay (reinforce)")
    dynamic_sampling: bool | None = Field(None, description="drop zero-variance groups and re-sample (DAPO)")
    max_gen_batches: int = Field(4, ge=1, description="generation rounds per step with dynamic sampling")
    overlong_buffer: float | None = Field(
        None, gt=0, le=1, description="add DAPO's overlong term: buffer as a share of max_new_tokens"
    )
    mask_truncated: bool = Field(False, description="drop truncated completions from the loss")
    is_correction: bool = Field(
        False, description="truncated importance weights for sampler/trainer mismatch"
    )
    is_cap: float = Field(2.0, gt=1, description="cap of the importance weights")

    # -- batch and sampling
    steps: int = Field(100, ge=1, description="training steps (one rollout batch each)")
    prompts_per_step: int = Field(8, ge=1, description="prompts (groups) per step, over all ranks")
    group_size: int = Field(8, ge=1, description="completions per prompt (G)")
    micro_batch_size: int = Field(64, ge=1, description="rows per forward/backward pass")
    backend: Literal["hf", "vllm"] = Field("hf", description="rollout backend")
    generation_batch_size: int = Field(256, ge=1, description="prompts per generate call")
    max_new_tokens: int = Field(32, ge=1, description="completion budget per turn")
    temperature: float = Field(1.0, gt=0, description="sampling temperature")
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(0, ge=0)
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, le=1)

    # -- optimisation and memory
    lr: float = Field(1e-5, gt=0, description="learning rate (tiny random models need 1e-4..1e-3)")
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    lora: LoRAConfig | None = Field(None, description="train LoRA adapters instead of all weights")
    gradient_checkpointing: bool = False
    threads: int | None = Field(
        None,
        ge=1,
        description="torch CPU threads (None: torch's default; 1 is faster on busy small machines)",
    )
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="auto: bf16 on GPUs that support it"
    )
    sft_steps: int = Field(
        0, ge=0, description="SFT warm start on generator solutions before RL (R1 cold start)"
    )
    sft_lr: float = Field(1e-3, gt=0)
    sft_batch_size: int = Field(32, ge=1)
    sft_unmarked_share: float = Field(
        0.0, ge=0, le=1, description="share of SFT answers left unboxed (a teacher in another answer style)"
    )

    # -- evaluation, logging, checkpoints
    eval_every: int = Field(
        25, ge=0, description="steps between held-out evaluations (0: only at start and end)"
    )
    eval_tasks: int = Field(200, ge=1, description="held-out seeds per evaluation")
    save_every: int = Field(0, ge=0, description="steps between checkpoints (0: only final)")
    resume: bool = Field(False, description="continue from the latest checkpoint in output_dir")
    progress: bool = Field(True, description="progress bar")
    tensorboard: bool = Field(True, description="also log to TensorBoard when installed")

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.algo not in ALGOS:
            raise ValueError(f"algo={self.algo!r}: pass one of {', '.join(ALGOS)}")
        return self

    def resolved(self) -> TrainConfig:
        """This config with every preset-controlled field filled in from `algo`."""
        values = self.model_dump()
        for key, value in preset_values(self.algo).items():
            if values.get(key) is None:
                values[key] = value
        if values["scale_rewards"] is None:
            values["scale_rewards"] = "none" if values["advantage"] == "dr_grpo" else "group"
        out = TrainConfig.model_validate(values)
        out.check_consistent()
        return out

    def check_consistent(self) -> None:
        """Errors for combinations no run can use (checked on the resolved config)."""
        group_estimators = {"rloo", "grpo", "dr_grpo", "reinforce_pp_baseline"}
        if self.advantage in group_estimators and self.group_size < 2:
            raise ConfigError(
                f"advantage={self.advantage!r} compares completions of one prompt: group_size must be at "
                f"least 2, got {self.group_size}"
            )
        if self.dynamic_sampling and self.group_size < 2:
            raise ConfigError("dynamic_sampling drops zero-variance groups: group_size must be at least 2")

    @property
    def rows_per_step(self) -> int:
        return self.prompts_per_step * self.group_size


def _format_errors(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "config"
        if item["type"] == "extra_forbidden":
            close = _closest(str(item["loc"][-1]))
            hint = f" (did you mean {close!r}?)" if close else ""
            lines.append(f"  {where}: unknown key{hint}")
        else:
            lines.append(f"  {where}: {item['msg']} (got {item.get('input')!r:.80})")
    return f"invalid training config ({source}):\n" + "\n".join(lines)


def _closest(key: str) -> str | None:
    import difflib

    matches = difflib.get_close_matches(key, TrainConfig.model_fields, n=1)
    return matches[0] if matches else None


def parse_override(text: str) -> tuple[str, Any]:
    """`key=value` with a YAML value (`lr=1e-4`, `lora.r=8`, `env_kwargs={difficulty: 2}`)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {text!r}: write key=value, e.g. lr=1e-4")
    return key.strip(), yaml.safe_load(value) if value.strip() else None


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The config in YAML file `path` (or the defaults), with `overrides` (dotted keys) applied."""
    values: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(
                f"config file {path} must hold a mapping of settings, got {type(loaded).__name__}"
            )
        values = loaded or {}
    for dotted, value in (overrides or {}).items():
        *parents, leaf = dotted.split(".")
        target = values
        for part in parents:
            target = target.setdefault(part, {}) if isinstance(target.get(part), dict | None) else {}
        target[leaf] = value
    try:
        return TrainConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None
