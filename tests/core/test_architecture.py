"""The layers import one way only, and every error rlvr raises derives from `rlvr.RlvrError`.

Layers, bottom up: the contract (`rlvr.verifier`) and `rlvr.errors`; the sandbox; the reward library
(`verifier_server.engine` + `verifier_server.verifiers`), with the service (`verifier_server.service`)
beside it; the envs; the trainer adapters (`rlvr.integrations`); the agents. The root package and its
CLI sit on top. Imports inside functions count: a lazy import is still a dependency.
"""

import ast
import importlib
import inspect
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from rlvr.errors import RlvrError

ROOT = Path(__file__).resolve().parents[2]

BOTTOM = {"rlvr.verifier", "rlvr.errors", "rlvr.version"}
SANDBOX = BOTTOM | {"rlvr.sandbox"}
LIBRARY = SANDBOX | {"rlvr.verifier_server.engine", "rlvr.verifier_server.verifiers"}
SERVICE = LIBRARY | {"rlvr.verifier_server.service"}
# `rlvr` and `rlvr.verifier_server` themselves are facades over the library (and the lazy clients).
FACADES = {"rlvr", "rlvr.verifier_server"}
ENVS = SERVICE | FACADES | {"rlvr.envs"}
INTEGRATIONS = ENVS | {"rlvr.integrations"}
AGENTS = INTEGRATIONS | {"rlvr.agents"}

#: Module prefix → the prefixes its imports may name (the longest matching prefix rules).
ALLOWED = {
    "rlvr.verifier": {"rlvr.verifier"},
    "rlvr.errors": set(),
    "rlvr.version": set(),
    "rlvr.sandbox": SANDBOX,
    "rlvr.verifier_server.engine": LIBRARY,
    "rlvr.verifier_server.verifiers": LIBRARY,
    "rlvr.verifier_server.service": SERVICE,
    "rlvr.verifier_server": SERVICE | {"rlvr.verifier_server"},
    "rlvr.envs": ENVS,
    "rlvr.integrations": INTEGRATIONS,
    "rlvr.agents": AGENTS,
}
TOP = {"rlvr.__init__", "rlvr.__main__", "rlvr.cli"}  # may import anything


def _modules() -> dict[str, Path]:
    """Every module of the distribution, by dotted name, from pyproject's package-dir mapping."""
    package_dir = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    modules = {}
    for package, folder in package_dir.items():
        for path in (ROOT / folder).rglob("*.py"):
            relative = path.relative_to(ROOT / folder).with_suffix("")
            name = ".".join([package, *relative.parts])
            if name.startswith(package) and "__pycache__" not in path.parts:
                modules.setdefault(name, path)
    return modules


def _rlvr_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name == "rlvr" or name.startswith("rlvr.")}


def _rule(module: str, table: dict[str, set[str]]) -> str | None:
    matches = [prefix for prefix in table if module == prefix or module.startswith(prefix + ".")]
    return max(matches, key=len) if matches else None


def _allowed(imported: str, prefixes: set[str]) -> bool:
    # `from rlvr.sandbox import run` names "rlvr.sandbox.run": judged by its package, "rlvr.sandbox".
    return any(imported == p or imported.startswith(p + ".") for p in prefixes) or (
        imported.rsplit(".", 1)[0] in prefixes
    )


def test_imports_point_down_the_layers():
    violations = []
    for module, path in sorted(_modules().items()):
        if module.removesuffix(".__init__") in TOP or module in TOP:
            continue
        rule = _rule(module.removesuffix(".__init__"), ALLOWED)
        assert rule is not None, f"{module} ({path}) is in no layer: add it to ALLOWED"
        for imported in sorted(_rlvr_imports(path)):
            if not _allowed(imported, ALLOWED[rule]):
                violations.append(f"{module} imports {imported}")
    assert not violations, "imports against the layers:\n" + "\n".join(violations)


def test_the_layer_rules_catch_an_upward_import(tmp_path):
    upward = tmp_path / "upward.py"
    upward.write_text("def f():\n    from rlvr.verifier_server.service.client import Client\n")
    assert not all(_allowed(name, ALLOWED["rlvr.sandbox"]) for name in _rlvr_imports(upward))
    assert all(_allowed(name, ALLOWED["rlvr.agents"]) for name in _rlvr_imports(upward))


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("rlvr.sandbox", ("rlvr.verifier_server", "rlvr.envs", "yaml", "grpc")),
        ("rlvr.verifier_server.engine.core", ("rlvr.verifier_server.service", "rlvr.envs", "grpc")),
        ("rlvr.envs", ("rlvr.agents", "torch")),
    ],
)
def test_importing_a_layer_loads_nothing_above_it(package, forbidden):
    code = f"import sys, {package}; print('\\n'.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    above = [m for m in loaded.split() if any(m == f or m.startswith(f + ".") for f in forbidden)]
    assert not above, f"import {package} loaded {above[:10]}"


def _public_exception_classes():
    for name in sorted(_modules()):
        # In-sandbox drivers run on a bare system Python and cannot import rlvr: their errors stay inside.
        if ".drivers." in name or name.endswith("__main__"):
            continue
        try:
            module = importlib.import_module(name.removesuffix(".__init__"))
        except ImportError:  # an optional extra that is not installed
            continue
        for attribute, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not attribute.startswith("_")
            ):
                yield value


def test_every_public_error_derives_from_rlvr_error():
    classes = list(_public_exception_classes())
    assert len(classes) > 20  # the walk found the package's errors
    strays = sorted(f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, RlvrError))
    assert not strays, f"errors not derived from rlvr.errors.RlvrError: {strays}"
