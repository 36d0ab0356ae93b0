"""Server settings: flags override `RLVR_*` environment variables, which override a YAML/TOML config file."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlvr.errors import RlvrError

ENV_PREFIX = "RLVR_"
CONFIG_ENV = "RLVR_CONFIG"


class ConfigError(RlvrError, ValueError):
    """A setting has a bad value or the config file cannot be read."""


@dataclass
class ServerConfig:
    """Every setting of `rlvr serve`. Times in seconds, sizes in MiB; a port of 0 disables that endpoint.

    The environment variable of a field is `RLVR_` + its name in upper case (`RLVR_PORT`,
    `RLVR_PLUGINS=a,b`); the config file uses the field names as keys.
    """

    host: str = "127.0.0.1"
    port: int = 50051
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    memory_limit_mb: int = 4096  # address-space limit of each worker process
    slow_after: float = 0.03  # a check running longer is demoted (nice 19) and an extra worker started
    burst_workers: int = field(default_factory=lambda: 8 * (os.cpu_count() or 1))  # cap on those extras
    worker_nice: int = 5  # workers yield the CPU to the event loop, which runs the inline checks
    long_workers: int = field(default_factory=lambda: os.cpu_count() or 1)  # for kinds that run long
    long_after: float = 0.02  # a kind whose median check takes longer runs on the long_workers
    max_queue: int = 4096  # items admitted (queued + running) before RESOURCE_EXHAUSTED
    max_batch: int = 4096  # requests in one VerifyBatch
    stream_window: int = 256  # items of one VerifyStream in flight; more waits (flow control)
    threads: int = 64  # threads running the synchronous core (inline checks and pool waits)
    max_message_mb: int = 64
    grace_seconds: float = 30.0  # drain time on SIGTERM
    token: str = ""  # bearer token required in `authorization` metadata; empty: no check
    tls_cert: str = ""  # PEM certificate chain; with tls_key enables TLS
    tls_key: str = ""
    http_port: int = 0  # HTTP/JSON gateway
    metrics_port: int = 0  # Prometheus /metrics
    plugins: list[str] = field(default_factory=list)  # extra verifier modules to import
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        for name in ("workers", "max_queue", "max_batch", "stream_window", "threads", "max_message_mb"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("port", "http_port", "metrics_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ConfigError(f"{name} must be a port number in 0..65535, got {getattr(self, name)}")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("TLS needs both tls_cert and tls_key (PEM files); got only one")
        if self.burst_workers < 0 or self.slow_after <= 0 or not 0 <= self.worker_nice <= 19:
            raise ConfigError(
                f"need burst_workers >= 0, slow_after > 0 and worker_nice in 0..19; got "
                f"{self.burst_workers}, {self.slow_after}, {self.worker_nice}"
            )
        if self.long_workers < 0 or self.long_after <= 0:
            raise ConfigError(
                f"need long_workers >= 0 and long_after > 0; got {self.long_workers}, {self.long_after}"
            )
        if self.grace_seconds < 0:
            raise ConfigError(f"grace_seconds must be >= 0, got {self.grace_seconds}")

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)


def _coerce(name: str, kind: Any, value: Any) -> Any:
    """Convert a string (env var) or file value to the field's type; raise ConfigError naming it."""
    try:
        if kind in ("list[str]", list[str]):
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            return [str(v) for v in value]
        if kind in ("int", int):
            return int(value)
        if kind in ("float", float):
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r} has a bad value {value!r}: {exc}") from None


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Settings from a `.yaml`/`.yml` or `.toml` file (a flat mapping of field names)."""
    path = Path(path)
    if path.suffix not in (".yaml", ".yml", ".toml"):
        raise ConfigError(f"config file {str(path)!r} must end in .yaml, .yml or .toml")
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc}") from None
    if path.suffix == ".toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {str(path)!r} must hold a mapping of settings, got {type(data).__name__}"
        )
    return data


def load_config(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | os.PathLike[str] | None = None,
) -> ServerConfig:
    """Merge settings: `flags` (None values ignored) > `RLVR_*` variables > config file > defaults.

    The config file is `config_file`, else the file named by `RLVR_CONFIG`, else none. Unknown keys
    in the file raise ConfigError (a typo must not be silently ignored).
    """
    environ = os.environ if environ is None else environ
    fields = {f.name: f.type for f in dataclasses.fields(ServerConfig)}
    merged: dict[str, Any] = {}
    path = config_file or environ.get(CONFIG_ENV)
    if path:
        from_file = read_config_file(path)
        unknown = sorted(set(from_file) - set(fields))
        if unknown:
            raise ConfigError(f"unknown settings {unknown} in {str(path)!r}; known: {sorted(fields)}")
        merged.update({k: _coerce(k, fields[k], v) for k, v in from_file.items()})
    for name, kind in fields.items():
        value = environ.get(ENV_PREFIX + name.upper())
        if value is not None and value != "":
            merged[name] = _coerce(name, kind, value)
    for name, value in (flags or {}).items():
        if name not in fields:
            raise ConfigError(f"unknown setting {name!r}; known: {sorted(fields)}")
        if value is not None:
            merged[name] = _coerce(name, fields[name], value)
    return ServerConfig(**merged)
