"""`rlvr rm train`: a typer command group, heavy imports inside the command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

HELP = {"help_option_names": ["-h", "--help"]}
rm = typer.Typer(
    name="rm", help="Reward models: train a Bradley–Terry model on preference pairs.", no_args_is_help=True
)


@rm.command(context_settings=HELP)
def train(
    data: Annotated[
        Path,
        typer.Argument(
            help="JSONL of prompt/chosen/rejected pairs (or `rlvr filter --style dpo` rows), or `rlvr sample` records."
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Dir to save the reward model in (HF format).")
    ],
    model: Annotated[
        str,
        typer.Option(help="Local HF causal-LM or sequence-classification dir, or 'tiny' (built offline)."),
    ] = "tiny",
    tokenizer: Annotated[str | None, typer.Option(help="Tokenizer dir (default: the model dir).")] = None,
    epochs: Annotated[int, typer.Option(help="Passes over the training pairs.")] = 1,
    batch_size: Annotated[int, typer.Option(help="Pairs per optimiser step.")] = 8,
    lr: Annotated[
        float | None, typer.Option(help="AdamW learning rate (default 3e-3 for tiny, else 1e-5).")
    ] = None,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 0.0,
    max_length: Annotated[
        int, typer.Option(help="Tokens per (prompt, completion), truncated as the verifier does.")
    ] = 512,
    eval_fraction: Annotated[float, typer.Option(help="Share of prompts held out for pair accuracy.")] = 0.1,
    eval_every: Annotated[
        int, typer.Option(help="Steps between held-out evaluations (0: once per epoch).")
    ] = 0,
    pairs_per_prompt: Annotated[
        int, typer.Option(help="Pairs made per prompt from `rlvr sample` records.")
    ] = 4,
    seed: Annotated[int, typer.Option(help="Split, shuffle and init seed.")] = 0,
    device: Annotated[str, typer.Option(help="auto (cuda when available), cpu, cuda or cuda:N.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="torch CPU threads.")] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")
    ] = True,
) -> None:
    """Train a reward model with the Bradley–Terry loss −log σ(r_chosen − r_rejected); print held-out pair accuracy.

    The saved dir is what the `reward_model` verifier loads (option `model: DIR`); metrics.jsonl and
    reward_model.json (summary) are written beside the weights.
    """
    options = dict(locals())  # first statement: exactly the options above
    from rlvr.agents.policy import ModelLoadError
    from rlvr.agents.reward_model.data import PreferenceDataError
    from rlvr.agents.reward_model.train import RewardModelConfig, train_reward_model

    config = RewardModelConfig(
        **{k: v for k, v in options.items() if k in RewardModelConfig.__dataclass_fields__}
    )
    try:
        summary = train_reward_model(config)
    except (PreferenceDataError, ModelLoadError, ValueError) as exc:
        typer.echo(f"rlvr rm train: error: {exc}", err=True)
        raise typer.Exit(2) from None
    held = summary["held_out"]
    accuracy = f"held-out pair accuracy {held['eval/accuracy']:.3f}" if held else "no held-out pairs"
    pairs = summary["pairs"]
    cut = f", {pairs['truncated']} truncated to {summary['max_length']} tokens" if pairs["truncated"] else ""
    typer.echo(f"saved {output} ({pairs['train']} train pairs{cut}, {summary['steps']} steps): {accuracy}")


def register(app: typer.Typer) -> None:
    """Add the `rm` command group to the `rlvr` app."""
    app.add_typer(rm, name="rm")
