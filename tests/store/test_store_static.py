"""Static checks on gwd/store: SQL is never built from values, and the test plumbing fails
loudly in CI when PostgreSQL is missing."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.support.pg import pg_url_or_skip
from tests.support.sqlcheck import constant_part, formatted_sql, literal_text

STORE = Path(__file__).resolve().parents[2] / "gwd" / "store"
SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|WHERE|VALUES|DROP|CREATE|PRAGMA)\b",
                       re.IGNORECASE)
#: methods that send SQL (sqlite3 and asyncpg)
SQL_CALLS = {"execute", "executemany", "executescript", "fetch", "fetchrow", "fetchval",
             "prepare", "cursor_execute", "copy_records_to_table"}


def _sources() -> list[tuple[Path, ast.Module]]:
    files = sorted(STORE.glob("*.py"))
    assert len(files) >= 6, files
    return [(path, ast.parse(path.read_text(), str(path))) for path in files]


def test_no_sql_is_formatted_with_values() -> None:
    problems = [p for path, tree in _sources() for p in formatted_sql(path.name, tree, SQL_WORDS)]
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
    assert joined and SQL_WORDS.search(literal_text(joined[0]))
    glued = ast.parse('sql = "SELECT * FROM gw_keys WHERE token_hash = \'" + token + "\'"')
    add = next(n for n in ast.walk(glued) if isinstance(n, ast.BinOp))
    assert not all(constant_part(n) for n in ast.walk(add))
    fine = ast.parse('SQL = "SELECT " + _COLUMNS + " FROM gw_keys"')
    add = next(n for n in ast.walk(fine) if isinstance(n, ast.BinOp))
    assert all(constant_part(n) for n in ast.walk(add))
    found = formatted_sql("x.py", ast.parse(
        'a = f"SELECT {x}"\nb = "DELETE FROM t WHERE id = %s" % i\n'
        'c = "UPDATE t SET v = {}".format(v)\nd = "SELECT " + col\n'), SQL_WORDS)
    assert [p.partition(": ")[2] for p in found] == [
        "f-string SQL", "%-formatted SQL", "str.format SQL",
        "SQL concatenated with an expression"]
    assert formatted_sql("x.py", fine, SQL_WORDS) == []


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
