"""Every Python package in the tree ships in the distribution (a regular install, not only editable)."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_directory_is_listed_in_pyproject():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    found = set()
    for name, folder in setuptools["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *relative.parts]))
    assert not found - listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def _import_from_the_folder_holding(checkout_parent: Path, *flags: str) -> subprocess.CompletedProcess:
    code = "import rlvr, rlvr.envs; print(rlvr.verify({'verifier': 'math', 'response': '\\\\boxed{2}', 'ground_truth': '2'}).reward)"
    return subprocess.run(
        [sys.executable, *flags, "-c", code], cwd=checkout_parent, capture_output=True, text=True, timeout=120
    )


def test_import_rlvr_from_the_folder_holding_the_checkout_gets_the_installed_package(tmp_path):
    (tmp_path / "rlvr").symlink_to(ROOT)  # a checkout named rlvr, as `git clone .../rlvr` makes it
    result = _import_from_the_folder_holding(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1.0"


def test_import_rlvr_from_there_without_an_install_says_how_to_install(tmp_path):
    (tmp_path / "rlvr").symlink_to(ROOT)
    result = _import_from_the_folder_holding(tmp_path, "-S")  # no site-packages: nothing installed
    assert result.returncode == 1
    assert "found the rlvr checkout" in result.stderr and "pip install -e" in result.stderr
