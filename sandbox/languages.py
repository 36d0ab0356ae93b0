"""The languages `rlvr.sandbox.run` knows: source file name, compile step and run command."""

from __future__ import annotations

from dataclasses import dataclass

from rlvr.errors import RlvrError


class UnknownLanguage(RlvrError, ValueError):
    """A language name with no entry in LANGUAGES (nor among its aliases)."""

    def __init__(self, name: str) -> None:
        self.name = name
        known = ", ".join(sorted(LANGUAGES) + sorted(ALIASES))
        super().__init__(f"unknown language {name!r}; use one of: {known}")


@dataclass(frozen=True)
class Language:
    """How to build and run one program.

    `source` is the file name the program is written to in the work dir; `compile` is the argv of
    the compile step (None for interpreted languages) which must produce `binary`; `run` is the argv
    that runs the program (it reads stdin, writes stdout/stderr).
    """

    name: str
    source: str
    run: tuple[str, ...]
    compile: tuple[str, ...] | None = None
    binary: str | None = None

    @property
    def compiled(self) -> bool:
        """Whether a compile step must succeed before runs."""
        return self.compile is not None


LANGUAGES: dict[str, Language] = {
    "python": Language("python", "main.py", ("/usr/bin/python3", "-B", "main.py")),
    "c": Language(
        "c",
        "main.c",
        ("./main",),
        ("/usr/bin/gcc", "-O2", "-std=gnu17", "-pipe", "-o", "main", "main.c", "-lm"),
        "main",
    ),
    "cpp": Language(
        "cpp",
        "main.cpp",
        ("./main",),
        ("/usr/bin/g++", "-O2", "-std=gnu++17", "-pipe", "-o", "main", "main.cpp"),
        "main",
    ),
    "bash": Language("bash", "main.sh", ("/bin/bash", "main.sh")),
}

ALIASES: dict[str, str] = {
    "py": "python",
    "python3": "python",
    "c++": "cpp",
    "cxx": "cpp",
    "cc": "cpp",
    "sh": "bash",
    "shell": "bash",
}


def get_language(name: str) -> Language:
    """The Language for `name` or an alias (case-insensitive); raises UnknownLanguage."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in LANGUAGES:
        raise UnknownLanguage(name)
    return LANGUAGES[key]
