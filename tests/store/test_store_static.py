"""Static checks on gwd/store: SQL is never built from values, and the test plumbing fails
loudly in CI when PostgreSQL is missing."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.support.pg import pg_url_or_skip

STORE = Path(__file__).resolve().parents[2] / "gwd" / "store"
SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|WHERE|VALUES|DROP|CREATE|PRAGMA)\b",
                       re.IGNORECASE)
CONSTANT_NAME = re.compile(r"^_?[A-Z][A-Z0-9_]*$")
#: methods that send SQL (sqlite3 and asyncpg)
SQL_CALLS = {"execute", "executemany", "executescript", "fetch", "fetchrow", "fetchval",
             "prepare", "cursor_execute", "copy_records_to_table"}


def _sources() -> list[tuple[Path, ast.Module]]:
    files = sorted(STORE.glob("*.py"))
    assert len(files) >= 6, files
    return [(path, ast.parse(path.read_text(), str(path))) for path in files]


def _text(node: ast.AST) -> str:
    """The literal text inside an expression (f-string parts, constants)."""
    return " ".join(n.value for n in ast.walk(node)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str))


def _constant_part(node: ast.AST) -> bool:
    """Literal text, an UPPER_CASE module constant, or the + joining them."""
    if isinstance(node, ast.Name):
        return CONSTANT_NAME.match(node.id) is not None
    return isinstance(node, (ast.Constant, ast.BinOp, ast.Add, ast.Load))


def test_no_sql_is_formatted_with_values() -> None:
    problems = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            where = f"{path.name}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.JoinedStr) and SQL_WORDS.search(_text(node)):
                problems.append(f"{where}: f-string containing SQL")
            elif (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod)
                  and SQL_WORDS.search(_text(node.left))):
                problems.append(f"{where}: %-formatted SQL")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr == "format" and SQL_WORDS.search(_text(node.func.value))):
                problems.append(f"{where}: str.format on SQL")
            elif (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)
                  and SQL_WORDS.search(_text(node))
                  and not all(_constant_part(n) for n in ast.walk(node))):
                problems.append(f"{where}: SQL concatenated with an expression")
    assert problems == []


def test_sql_calls_take_a_constant_statement() -> None:
    """Every execute()/fetch*() gets a literal, a constant's name or a module constant."""
    problems = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in SQL_CALLS and node.args):
                continue
            first = node.args[0]
            ok = (isinstance(first, ast.Constant) and isinstance(first.value, str)) or (
                isinstance(first, (ast.Name, ast.Attribute)))
            if not ok:
                problems.append(f"{path.name}:{node.lineno}: {ast.unparse(first)}")
    assert problems == []


def test_the_check_catches_formatted_sql() -> None:
    bad = ast.parse('conn.execute(f"SELECT * FROM gw_keys WHERE token_hash = \'{h}\'")')
    joined = [n for n in ast.walk(bad) if isinstance(n, ast.JoinedStr)]
    assert joined and SQL_WORDS.search(_text(joined[0]))
    glued = ast.parse('sql = "SELECT * FROM gw_keys WHERE token_hash = \'" + token + "\'"')
    add = next(n for n in ast.walk(glued) if isinstance(n, ast.BinOp))
    assert not all(_constant_part(n) for n in ast.walk(add))
    fine = ast.parse('SQL = "SELECT " + _COLUMNS + " FROM gw_keys"')
    add = next(n for n in ast.walk(fine) if isinstance(n, ast.BinOp))
    assert all(_constant_part(n) for n in ast.walk(add))


def test_pg_url_or_skip_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GW_TEST_PG_URL", raising=False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        pg_url_or_skip()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        pg_url_or_skip()
    monkeypatch.setenv("GW_TEST_PG_URL", "postgresql://x@127.0.0.1/y")
    assert pg_url_or_skip() == "postgresql://x@127.0.0.1/y"
