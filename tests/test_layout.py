"""The package's layout: few modules at the top, none too long, no import circle, lazy imports explained.

Read from the source with :mod:`ast` (nothing is imported):

* at most ``MAX_TOP_MODULES`` modules directly in ``collapse_theory/``, the rest in folders by concept;
* no module longer than ``MAX_MODULE_LINES`` lines;
* no function longer than ``MAX_FUNCTION_LINES`` lines without a comment just above it saying why;
* no circle among the module-level imports (``if TYPE_CHECKING:`` blocks aside); ``from
  collapse_theory.x import y`` is an edge to the module ``collapse_theory.x.y`` when y is one,
  else to ``collapse_theory.x``;
* every import inside a function (a lazy import) has a comment on its line or the line above
  saying why it is not at the top (an import circle, an optional or heavy dependency, start-up time).
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterator
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "collapse_theory"
MAX_TOP_MODULES = 12
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80

# files exempt from these rules while they are rewritten (none now)
PENDING: set[str] = set()


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _checked() -> list[Path]:
    return [path for path in _files() if _relative(path) not in PENDING]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


@cache
def _comment_lines(path: Path) -> frozenset[int]:
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    return frozenset(token.start[0] for token in tokens if token.type == tokenize.COMMENT)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports run when the module is imported: top level, and inside module-level if, try and with."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _type_checking(node):
                yield from _module_level_imports(node.body)
            yield from _module_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(handler.body for handler in node.handlers)):
                yield from _module_level_imports(block)
        elif isinstance(node, ast.With):
            yield from _module_level_imports(node.body)


def _function_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports inside a function body (at any depth), ``if TYPE_CHECKING:`` blocks aside."""

    def walk(node: ast.AST, in_function: bool) -> Iterator[ast.Import | ast.ImportFrom]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                continue
            if in_function and isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child
            yield from walk(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    yield from walk(tree, False)


def _import_graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in _files()}
    packages = {_module_name(path) for path in _files() if path.name == "__init__.py"}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in _module_level_imports(_tree(path).body):
            if isinstance(node, ast.Import):
                named = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    parent = name if name in packages else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        parent = parent.rpartition(".")[0]
                    base = f"{parent}.{base}" if base else parent
                named = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            for target in named:
                while target and target not in modules:  # a name inside a module: the module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_few_modules_sit_directly_in_the_package():
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top


def test_no_module_is_longer_than_the_limit():
    long = {
        _relative(path): n for path in _checked() if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_a_long_function_says_why():
    unexplained = []
    for path in _checked():
        comments = _comment_lines(path)
        for node in ast.walk(_tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
                assert node.end_lineno is not None
                if node.end_lineno - first + 1 > MAX_FUNCTION_LINES and first - 1 not in comments:
                    unexplained.append(f"{_relative(path)}:{node.lineno} {node.name}")
    assert unexplained == [], f"functions over {MAX_FUNCTION_LINES} lines without a comment just above: {unexplained}"


def test_no_import_circle_among_module_level_imports():
    pending = {_module_name(PACKAGE / relative) for relative in PENDING}
    circles = [circle for circle in _circles(_import_graph()) if not pending & set(circle)]
    assert circles == [], f"import circles: {circles}"


def test_every_lazy_import_says_why():
    unexplained = []
    for path in _checked():
        comments = _comment_lines(path)
        for node in _function_imports(_tree(path)):
            if node.lineno not in comments and node.lineno - 1 not in comments:
                unexplained.append(f"{_relative(path)}:{node.lineno}")
    assert unexplained == [], f"imports inside functions without a comment saying why: {unexplained}"


def test_the_checks_see_a_circle_and_a_lazy_import(tmp_path: Path):
    """The helpers themselves: a two-module circle is found, an unexplained function-level import too."""
    assert _circles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    source = tmp_path / "example.py"
    source.write_text("import os\n\n\ndef f():\n    import json\n\n    # why\n    import sys\n    return json, sys, os\n")
    tree = ast.parse(source.read_text())
    lines = [node.lineno for node in _function_imports(tree)]
    assert lines == [5, 8]
    assert [line for line in lines if line not in _comment_lines(source) and line - 1 not in _comment_lines(source)] == [5]
