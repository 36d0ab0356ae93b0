"""`rlvr train`: a typer command whose options are generated from `TrainConfig`, so --help lists them all."""

from __future__ import annotations

import inspect
import sys
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from rlvr.agents.config import ConfigError, TrainConfig, load_config, parse_override
from rlvr.agents.presets import ALGOS

#: Fields a preset fills when left unset.
PRESET_FIELDS = frozenset(
    {
        "advantage",
        "loss_agg",
        "use_ratio",
        "eps_low",
        "eps_high",
        "dual_clip",
        "scale_rewards",
        "beta",
        "kl_estimator",
        "kl_placement",
        "epochs",
        "minibatches",
        "gamma",
        "lam",
        "vf_coef",
        "value_clip",
        "dynamic_sampling",
        "overlong_buffer",
    }
)
#: Fields given on the command line as YAML text.
STRUCTURED = frozenset({"env_kwargs", "lora"})


def _choices(name: str, values: typing.Sequence[str]) -> type[Enum]:
    return Enum(name, {str(v): str(v) for v in values}, type=str)  # type: ignore[return-value]


def _parameter(name: str, field: Any) -> inspect.Parameter:
    annotation = field.annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    optional = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    kind = args[0] if optional and len(args) == 1 else annotation
    default = field.default if field.default_factory is None else field.default_factory()
    shown = "the algo preset's" if name in PRESET_FIELDS else repr(default)
    help_text = f"{field.description or name} (default: {shown})"
    if name == "algo":
        kind = _choices("Algo", ALGOS)
    elif typing.get_origin(kind) is typing.Literal:
        kind = _choices(name.title().replace("_", ""), [str(c) for c in typing.get_args(kind)])
    elif name in STRUCTURED or kind not in (bool, int, float, str, Path):
        example = "{r: 8}" if name == "lora" else "{difficulty: 2}"
        kind, help_text = str, help_text + f" (YAML, e.g. '{example}')"
    option = typer.Option(help=help_text, show_default=False, rich_help_panel=_panel(name))
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[kind | None, option],  # type: ignore[valid-type]
    )


def _panel(name: str) -> str:
    fields = list(TrainConfig.model_fields)
    marks = ["algo", "steps", "lr", "eval_every"]
    titles = [
        "What to train",
        "Algorithm",
        "Batch and sampling",
        "Optimisation and memory",
        "Evaluation and checkpoints",
    ]
    position = fields.index(name)
    return titles[sum(position >= fields.index(m) for m in marks)]


def train(config: Path | None = None, overrides: list[str] | None = None, **options: Any) -> None:
    """Train a policy with RL against an rlvr env (REINFORCE, RLOO, GRPO, Dr.GRPO, DAPO, REINFORCE++, PPO).

    Settings come from --config, then --set, then the options below; algorithm settings left unset take the
    --algo preset's values. Example: rlvr train --config examples/grpo_arithmetic.yaml --lr 1e-4
    """
    values: dict[str, Any] = {}
    for name, value in options.items():
        if value is None:
            continue
        value = value.value if isinstance(value, Enum) else value
        values[name] = yaml.safe_load(value) if name in STRUCTURED else value
    try:
        values = {**dict(parse_override(text) for text in overrides or ()), **values}
        cfg = load_config(config, values)
        from rlvr.agents.trainer import Trainer

        trainer = Trainer(cfg)
        result = trainer.train()
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None
    except KeyboardInterrupt:
        typer.echo(
            "\ninterrupted: a checkpoint was saved in the output dir's checkpoints/ (continue with --resume)",
            err=True,
        )
        sys.exit(130)
    except Exception as exc:
        from rlvr.errors import RlvrError

        if not isinstance(exc, RlvrError):
            raise
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if trainer.world.is_main:
        typer.echo(summary(result))


def summary(result: Any) -> str:
    """The end-of-run report: steps, speed, held-out metrics before -> after, where the outputs are."""
    lines = [
        f"trained {result.steps} steps, {result.seconds_per_step:.3f} s/step; outputs in {result.output_dir}"
    ]
    for key in ("eval/pass@1", "eval/mean_reward"):
        before, after = result.initial_eval.get(key), result.final_eval.get(key)
        if before is not None and after is not None:
            lines.append(f"  {key:<18} {before:.3f} -> {after:.3f}")
    lines.append(f"  initial/ and final/ are HF model dirs; curves: {Path(result.output_dir) / 'curves.png'}")
    return "\n".join(lines)


_FILE_OPTIONS = [
    inspect.Parameter(
        "config",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            Path | None, typer.Option("--config", "-c", help="YAML file of settings (field names as keys).")
        ],
    ),
    inspect.Parameter(
        "overrides",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            list[str] | None,
            typer.Option(
                "--set", help="KEY=VALUE with a YAML value, dotted for nested keys (lora.r=8); repeatable."
            ),
        ],
    ),
]
train.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [*_FILE_OPTIONS, *(_parameter(name, field) for name, field in TrainConfig.model_fields.items())]
)
