"""Not a module of rlvr: imported only when Python takes this checkout folder for the `rlvr` package.

That happens when the folder is named `rlvr` and Python runs from the folder that holds it: the
current directory comes first on `sys.path`, so `import rlvr` would find this folder (an empty
namespace package before this file existed) instead of the installed package, whose parts
pyproject.toml maps from `rlvr/`, `envs/`, `verifier_server/`... This file imports the installed
package in its place, or says loudly how to install it.
"""

import importlib
import os
import sys
from types import ModuleType

_CHECKOUT = os.path.dirname(os.path.abspath(__file__))
_PARENT = os.path.realpath(os.path.dirname(_CHECKOUT))


def _import_installed() -> ModuleType:
    saved = sys.path[:]
    sys.path[:] = [entry for entry in saved if os.path.realpath(entry or os.curdir) != _PARENT]
    del sys.modules[__name__]
    try:
        return importlib.import_module(__name__)
    except ImportError as exc:
        raise ImportError(
            f"`import rlvr` found the rlvr checkout {_CHECKOUT} (Python runs from {_PARENT}, which holds "
            f"it) and no installed rlvr: install it with `pip install -e {_CHECKOUT}`, or run elsewhere"
        ) from exc
    finally:
        sys.path[:] = saved + [entry for entry in sys.path if entry not in saved]


if __name__ == "rlvr":  # not when a tool imports the checkout under its folder name (pytest does)
    sys.modules[__name__] = _import_installed()
