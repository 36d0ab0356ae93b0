"""Turn assert-based test code (HumanEval, MBPP) into call checks whose expected values stay on the host."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from rlvr.sandbox.drivers.pydriver import ValueCodecError, encode_value


@dataclass(frozen=True)
class CallCheck:
    """`function(*args, **kwargs)` must equal `expected` (Python `==` on exact plain data, bool apart)."""

    function: str
    args: list[Any]
    kwargs: dict[str, Any]
    expected: Any
    source: str  # the assert it came from, for messages
    line: int


class _NotConvertible(Exception):
    pass


def _literal(node: ast.expr) -> Any:
    try:
        value = ast.literal_eval(node)
        encode_value(value)  # plain data only: no bytes, complex or Ellipsis
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, ValueCodecError):
        raise _NotConvertible() from None
    return value


def _call_check(node: ast.Assert, placeholder: str | None, bound_to: str | None) -> CallCheck | None:
    """The check of one `assert f(<literals>) == <literal>`; None for a no-op `assert True`."""
    test = node.test
    if isinstance(test, ast.Constant) and test.value is True:
        return None
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        raise _NotConvertible()
    left, op, right = test.left, test.ops[0], test.comparators[0]
    if isinstance(op, ast.Eq) and isinstance(right, ast.Call) and not isinstance(left, ast.Call):
        left, right = right, left
    if not isinstance(left, ast.Call) or not isinstance(left.func, ast.Name):
        raise _NotConvertible()
    if isinstance(op, ast.Is):
        # `is True` / `is None` keep their identity meaning: an exact bool or None is expected.
        if not (isinstance(right, ast.Constant) and right.value in (True, False, None)):
            raise _NotConvertible()
    elif not isinstance(op, ast.Eq):
        raise _NotConvertible()
    function = left.func.id
    if function == placeholder:
        if bound_to is None:
            raise _NotConvertible()
        function = bound_to
    if any(isinstance(a, ast.Starred) for a in left.args) or any(k.arg is None for k in left.keywords):
        raise _NotConvertible()
    return CallCheck(
        function=function,
        args=[_literal(a) for a in left.args],
        kwargs={k.arg: _literal(k.value) for k in left.keywords if k.arg is not None},
        expected=_literal(right),
        source=ast.unparse(node.test),
        line=node.lineno,
    )


def _is_inert(statement: ast.stmt) -> bool:
    """Statements that cannot affect literal-argument checks: docstrings, pass, imports, literal constants."""
    if isinstance(statement, (ast.Pass, ast.Import, ast.ImportFrom)):
        return True
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return True
    if isinstance(statement, ast.Assign) and all(isinstance(t, ast.Name) for t in statement.targets):
        try:
            ast.literal_eval(statement.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return False
        return True
    return False


def calls_from_script(code: str) -> list[CallCheck] | None:
    """The call checks equivalent to `code`, or None when it holds anything but such checks.

    Accepted shapes: top-level `assert f(<literals>) == <literal>` (MBPP), and a one-parameter
    `def check(candidate)` of such asserts on `candidate` followed by `check(f)` (HumanEval); docstrings,
    imports, `pass`, `assert True` and literal assignments (METADATA) may sit beside them. `is True`,
    `is False` and `is None` are accepted in place of `==`. An assert message is ignored. Anything else
    (loops, helpers, tolerances, computed expectations) returns None: run that code as a script.
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    checkers: dict[str, ast.FunctionDef] = {}
    checks: list[CallCheck] = []
    try:
        for statement in tree.body:
            if isinstance(statement, ast.Assert):
                check = _call_check(statement, None, None)
                checks += [check] if check else []
            elif isinstance(statement, ast.FunctionDef):
                checkers[statement.name] = _checker(statement)
            elif (
                isinstance(statement, ast.Expr)
                and isinstance(statement.value, ast.Call)
                and isinstance(statement.value.func, ast.Name)
                and statement.value.func.id in checkers
                and len(statement.value.args) == 1
                and isinstance(statement.value.args[0], ast.Name)
                and not statement.value.keywords
            ):
                checker = checkers[statement.value.func.id]
                target = statement.value.args[0].id
                placeholder = checker.args.args[0].arg
                for inner in checker.body:
                    if isinstance(inner, ast.Assert):
                        check = _call_check(inner, placeholder, target)
                        checks += [check] if check else []
            elif not _is_inert(statement):
                raise _NotConvertible()
    except _NotConvertible:
        return None
    defined = set(checkers) | {
        target.id
        for statement in tree.body
        if isinstance(statement, ast.Assign)
        for target in statement.targets
        if isinstance(target, ast.Name)
    }
    if any(check.function in defined for check in checks):
        return None  # a function of the test code itself, not of the program
    return checks or None


def _checker(definition: ast.FunctionDef) -> ast.FunctionDef:
    """`definition` if it is a plain one-parameter function of asserts and inert statements."""
    arguments = definition.args
    plain_signature = (
        len(arguments.args) == 1
        and not (arguments.posonlyargs or arguments.kwonlyargs or arguments.vararg or arguments.kwarg)
        and not arguments.defaults
        and not definition.decorator_list
    )
    if not plain_signature:
        raise _NotConvertible()
    placeholder = arguments.args[0].arg
    for inner in definition.body:
        if isinstance(inner, ast.Assert):
            _call_check(inner, placeholder, placeholder)  # validates the shape; bound at the call
        elif not _is_inert(inner) or isinstance(inner, (ast.Import, ast.ImportFrom)):
            raise _NotConvertible()
    return definition
