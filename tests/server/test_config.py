"""Settings precedence (flags > RLVR_* env > config file > defaults) and plugin loading."""

from __future__ import annotations

import pytest

from rlvr.verifier_server.engine.plugins import PluginError, load_plugins, plugins_from_env
from rlvr.verifier_server.service.config import ConfigError, ServerConfig, load_config


def test_defaults_bind_loopback_on_50051():
    config = load_config({}, environ={})
    assert (config.host, config.port, config.http_port, config.metrics_port) == ("127.0.0.1", 50051, 0, 0)
    assert config.workers >= 1


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_flags_override_env_which_overrides_the_file(tmp_path, suffix):
    path = tmp_path / f"serve{suffix}"
    if suffix == ".yaml":
        path.write_text("port: 7000\nworkers: 3\nhost: 0.0.0.0\nplugins: [a, b]\n")
    else:
        path.write_text('port = 7000\nworkers = 3\nhost = "0.0.0.0"\nplugins = ["a", "b"]\n')
    environ = {"RLVR_PORT": "7001", "RLVR_WORKERS": "5", "RLVR_CONFIG": str(path)}
    config = load_config({"port": 7002, "workers": None}, environ=environ)
    assert (config.port, config.workers, config.host, config.plugins) == (7002, 5, "0.0.0.0", ["a", "b"])


def test_env_lists_are_comma_separated():
    assert load_config({}, environ={"RLVR_PLUGINS": "one, two,,"}).plugins == ["one", "two"]
    assert plugins_from_env({"RLVR_PLUGINS": " x ,y"}) == ("x", "y")


def test_bad_values_name_the_setting(tmp_path):
    with pytest.raises(ConfigError, match="'port'"):
        load_config({}, environ={"RLVR_PORT": "fifty"})
    with pytest.raises(ConfigError, match="port"):
        load_config({"port": 70000}, environ={})
    with pytest.raises(ConfigError, match="tls_key"):
        ServerConfig(tls_cert="cert.pem")
    with pytest.raises(ConfigError, match="long_workers >= 0"):
        load_config({}, environ={"RLVR_LONG_WORKERS": "-1"})
    with pytest.raises(ConfigError, match="long_after > 0"):
        ServerConfig(long_after=0)
    typo = tmp_path / "typo.yaml"
    typo.write_text("prot: 1\n")
    with pytest.raises(ConfigError, match="unknown settings \\['prot'\\]"):
        load_config({}, environ={}, config_file=typo)
    broken = tmp_path / "broken.yaml"
    broken.write_text("port: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config({}, environ={}, config_file=broken)
    with pytest.raises(ConfigError, match=r"\.yaml, \.yml or \.toml"):
        load_config({}, environ={}, config_file=tmp_path / "serve.ini")


def test_a_plugin_that_cannot_be_imported_is_a_typed_error():
    with pytest.raises(PluginError, match="no_such_plugin_module") as caught:
        load_plugins(["no_such_plugin_module"])
    assert caught.value.module == "no_such_plugin_module"
