"""Plugin verifiers: extra modules, named by `--plugin` or `RLVR_PLUGINS`, that register verifiers on import."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping

from rlvr.errors import RlvrError

PLUGINS_ENV = "RLVR_PLUGINS"


class PluginError(RlvrError, ImportError):
    """A plugin module could not be imported."""

    def __init__(self, module: str, cause: BaseException):
        super().__init__(
            f"cannot import plugin module {module!r}: {type(cause).__name__}: {cause}; "
            "give an importable module name (on PYTHONPATH) whose import calls @register"
        )
        self.module = module


def plugins_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Module names listed (comma-separated) in `RLVR_PLUGINS`, in order, without blanks."""
    raw = (os.environ if environ is None else environ).get(PLUGINS_ENV, "")
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def load_plugins(modules: Iterable[str]) -> list[str]:
    """Import each module so its verifiers register; return the names imported. Raises PluginError.

    Worker processes import the same modules through `WorkerPool(imports=...)`, so a plugin must be
    importable by name there too (not a script run as `__main__`).
    """
    loaded = []
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - any import failure is reported the same way
            raise PluginError(module, exc) from exc
        loaded.append(module)
    return loaded
