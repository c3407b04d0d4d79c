"""The one check, shared by tests/store/test_store_static.py (gwd/store, in depth) and
tests/catalogue/test_static.py (the rest of gwd/, invariant I1), that no SQL is built
from values: no f-string, ``%`` or ``str.format`` SQL, and no SQL concatenated with an
expression. What counts as SQL is the caller's pattern."""

from __future__ import annotations

import ast
import re

CONSTANT_NAME = re.compile(r"^_?[A-Z][A-Z0-9_]*$")


def literal_text(node: ast.AST) -> str:
    """The literal text inside an expression (f-string parts, constants)."""
    return " ".join(n.value for n in ast.walk(node)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str))


def constant_part(node: ast.AST) -> bool:
    """Literal text, an UPPER_CASE module constant, or the + joining them."""
    if isinstance(node, ast.Name):
        return CONSTANT_NAME.match(node.id) is not None
    return isinstance(node, (ast.Constant, ast.BinOp, ast.Add, ast.Load))


def formatted_sql(name: str, tree: ast.Module, sql: re.Pattern[str]) -> list[str]:
    """Every place in ``tree`` (the module ``name``) where text matching ``sql`` is
    formatted or concatenated with a value, as ``name:line: how``."""
    problems = []
    for node in ast.walk(tree):
        where = f"{name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.JoinedStr) and sql.search(literal_text(node)):
            problems.append(f"{where}: f-string SQL")
        elif (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod)
              and sql.search(literal_text(node.left))):
            problems.append(f"{where}: %-formatted SQL")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "format" and sql.search(literal_text(node.func.value))):
            problems.append(f"{where}: str.format SQL")
        elif (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)
              and sql.search(literal_text(node))
              and not all(constant_part(n) for n in ast.walk(node))):
            problems.append(f"{where}: SQL concatenated with an expression")
    return problems
