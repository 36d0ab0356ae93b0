"""`rlvr train`: every config field is an option, YAML + overrides resolve, bad settings are usage errors."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from rlvr.agents.config import TrainConfig
from rlvr.cli import app

runner = CliRunner()


def test_help_documents_every_setting():
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"})
    assert result.exit_code == 0
    for name in TrainConfig.model_fields:
        assert "--" + name.replace("_", "-") in result.output, name


def test_train_from_yaml_with_overrides_writes_the_run(train_overrides, tmp_path):
    config = tmp_path / "run.yaml"
    settings = {k: v for k, v in train_overrides.items() if k not in ("steps", "lr")}
    config.write_text(yaml.safe_dump(settings))
    result = runner.invoke(
        app, ["train", "--config", str(config), "--steps", "1", "--set", "lr=0.002", "--algo", "rloo"]
    )
    assert result.exit_code == 0, result.output
    assert "trained 1 steps" in result.output and "eval/pass@1" in result.output
    run = json.loads((tmp_path / "run" / "final" / "rlvr_train.json").read_text())
    assert run["config"]["lr"] == 0.002 and run["config"]["algo"] == "rloo" and run["config"]["beta"] == 0.05


def test_a_typo_in_the_config_is_a_usage_error_naming_the_key(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("algo: grpo\ngroup_sise: 4\n")
    result = runner.invoke(app, ["train", "--config", str(config)])
    assert result.exit_code == 2 and "group_sise: unknown key (did you mean 'group_size'?)" in result.output
