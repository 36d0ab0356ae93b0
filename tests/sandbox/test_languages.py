"""Every language compiles (where it must) and runs in the sandbox; compile errors are reported as such."""

from __future__ import annotations

import pytest

from rlvr.sandbox import LANGUAGES, Limits, UnknownLanguage, get_language, run
from rlvr.sandbox.process.backend import ProcessBackend

pytestmark = pytest.mark.sandbox

ADDERS = {
    "python": "a, b = map(int, input().split())\nprint(a + b)\n",
    "c": '#include <stdio.h>\nint main(void) { int a, b; scanf("%d %d", &a, &b); printf("%d\\n", a + b); }\n',
    "cpp": "#include <iostream>\nint main() { long a, b; std::cin >> a >> b; std::cout << a + b << '\\n'; }\n",
    "bash": "read a b\necho $((a + b))\n",
}


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_each_language_runs_a_program_once_per_stdin(backend: ProcessBackend, language: str) -> None:
    result = run(ADDERS[language], language, [b"1 2\n", b"40 2\n"], backend=backend)
    assert not result.compile_failed
    assert [r.stdout for r in result.runs] == [b"3\n", b"42\n"]
    assert all(r.ok for r in result.runs)
    assert (result.compile is not None) == LANGUAGES[language].compiled


@pytest.mark.parametrize("language", ["c", "cpp"])
def test_compile_error_is_reported_with_the_compiler_message_and_no_runs(
    backend: ProcessBackend, language: str
) -> None:
    result = run("int main() { return undefined_name; }\n", language, [b""], backend=backend)
    assert result.compile_failed
    assert result.runs == []
    assert result.compile is not None and b"undefined_name" in result.compile.stderr


def test_compile_step_has_its_own_larger_limits(backend: ProcessBackend) -> None:
    # 64 MiB is far too little for cc1plus; the compile still succeeds, the run stays limited.
    tiny = Limits(memory_mb=64, cpu_seconds=1.0, wall_seconds=2.0)
    result = run(ADDERS["cpp"], "c++", [b"2 2\n"], limits=tiny, backend=backend)
    assert not result.compile_failed
    assert result.runs[0].stdout == b"4\n"


def test_extra_files_are_visible_to_the_program(backend: ProcessBackend) -> None:
    program = "print(open('data/in.txt').read().upper())"
    result = run(program, "python", files={"data/in.txt": b"abc"}, backend=backend)
    assert result.runs[0].stdout == b"ABC\n"


def test_aliases_resolve_and_unknown_languages_say_what_is_known() -> None:
    assert get_language("py").name == "python"
    assert get_language("C++").name == "cpp"
    assert get_language("sh").name == "bash"
    with pytest.raises(UnknownLanguage, match="'cobol'.*python"):
        get_language("cobol")


def test_runtime_error_is_a_nonzero_exit_not_a_sandbox_error(backend: ProcessBackend) -> None:
    result = run("raise SystemExit(3)", "python", backend=backend)
    assert result.runs[0].exit_code == 3
    assert result.runs[0].sandbox_error is None
