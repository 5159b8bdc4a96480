"""The suite reads the clock only while a test runs.

A time computed when pytest collects (in a ``parametrize`` list, a decorator, a default
argument or at module level) is minutes old by the time a long suite reaches the test that
uses it: a token "valid in 10 minutes" is valid by then, and the test fails on a fresh
machine only. Relative times belong in the test (or in a callable it resolves)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# (module or class, attribute) pairs that read a clock.
CLOCKS = {
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "monotonic"),
    ("time", "monotonic_ns"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
}


def _is_clock(call: ast.Call) -> bool:
    f = call.func
    if isinstance(f, ast.Attribute):
        owner = f.value
        name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
        return (name, f.attr) in CLOCKS
    return False


def _eager(tree: ast.Module) -> Iterator[ast.AST]:
    """Every node evaluated at import or collection: not inside a function body or lambda."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            stack.extend(node.decorator_list)
            stack.extend(d for d in node.args.defaults + node.args.kw_defaults if d is not None)
            continue  # the body runs later
        if isinstance(node, ast.Lambda):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _offences(source: str) -> list[int]:
    tree = ast.parse(source)
    return sorted(n.lineno for n in _eager(tree) if isinstance(n, ast.Call) and _is_clock(n))


def test_no_test_file_reads_the_clock_at_collection() -> None:
    found = {
        f"{path.relative_to(ROOT)}:{line}"
        for base in ("tests", "bench")
        for path in (ROOT / base).rglob("*.py")
        for line in _offences(path.read_text())
    }
    assert not found, f"clock read at import/collection (move it into the test): {sorted(found)}"


@pytest.mark.parametrize(
    ("source", "lines"),
    [
        ("import time\nT = time.time()\n", [2]),
        ("@pytest.mark.parametrize('x', [time.time() + 600])\ndef test_a(x): pass\n", [1]),
        ("def test_a(now=datetime.now(UTC)): pass\n", [1]),
        ("class TestA:\n    when = datetime.datetime.utcnow()\n", [2]),
        ("@pytest.mark.parametrize('f', [lambda: time.time() + 600])\ndef test_a(f): pass\n", []),
        ("def test_a():\n    assert time.time() > 0\n", []),
        ("T0 = datetime(2026, 1, 2, tzinfo=UTC)\n", []),
    ],
)
def test_the_check_finds_clocks_read_eagerly_and_only_those(source: str, lines: list[int]) -> None:
    assert _offences(source) == lines
