"""Static checks on gwd's source (catalogue invariants I1, I3, and the aiohttp row of §1.1).

- I1, no SQL built from values: gwd/store is checked in depth by
  tests/store/test_store_static.py (no f-string, ``%`` or ``.format`` SQL, no SQL
  concatenated with an expression, every execute()/fetch*() takes a constant
  statement). Here the same rules (tests/support/sqlcheck.py) run over the rest of
  gwd/, with upper-case SQL keywords (prose says "select" and "update" too), so SQL
  cannot creep in elsewhere.
- I3, nothing that runs code or a program from data: no ``eval``, ``exec``,
  ``compile``, ``__import__``, ``os.system``/``popen``/``exec*``/``spawn*``, and no
  import of jinja2, pickle, marshal, shelve or subprocess. One exception, by name:
  gwd/workers.py starts gwd's own worker processes with ``subprocess.Popen`` on a
  command line built from gwd's own argv (``gwd --workers N``), never from a request.
- YAML is read with ``yaml.safe_load`` only (no ``load``, ``unsafe_load``, Loader).
- aiohttp's C HTTP parser (llhttp) is the one in use — the pure-Python parser had
  the smuggling bugs (CVE-2025-53643, CVE-2025-69224) — ``AIOHTTP_NO_EXTENSIONS`` is
  unset, also in a fresh interpreter started as tests start gwd, and aiohttp is at
  least 3.13.3 (its decompression and chunk DoS fixes), as pyproject.toml requires.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
import aiohttp.http_parser as http_parser

from tests.support.sqlcheck import formatted_sql

REPO = Path(__file__).resolve().parents[2]
GWD = REPO / "gwd"
SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE TABLE|DROP TABLE"
                 r"|ALTER TABLE|PRAGMA)\b")
BANNED_MODULES = {"jinja2", "pickle", "marshal", "shelve", "subprocess", "dill", "cloudpickle"}
BANNED_CALLS = {"eval", "exec", "compile", "__import__", "breakpoint"}
BANNED_OS = re.compile(r"^(system|popen|exec\w*|spawn\w*|fork\w*|posix_spawn\w*)$")
#: the one allowed use: gwd --workers N starts gwd's own workers (see the docstring)
ALLOWED_IMPORTS = {("workers.py", "subprocess")}


@functools.cache
def sources() -> list[tuple[str, ast.Module]]:
    files = sorted(GWD.rglob("*.py"))
    assert len(files) > 30, files
    return [(str(p.relative_to(GWD)), ast.parse(p.read_text(), str(p))) for p in files]


def test_I1_no_sql_is_formatted_anywhere_in_gwd() -> None:
    problems = [p for name, tree in sources() for p in formatted_sql(name, tree, SQL)]
    assert problems == []


def _imports(tree: ast.Module) -> list[tuple[str, int]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name.split(".")[0], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module.split(".")[0], node.lineno))
    return out


def banned(name: str, tree: ast.Module) -> list[str]:
    """Every way ``tree`` (the module ``name``) could run code or a program from data."""
    problems = [f"{name}:{line}: import {module}" for module, line in _imports(tree)
                if module in BANNED_MODULES and (name, module) not in ALLOWED_IMPORTS]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in BANNED_CALLS:
            problems.append(f"{name}:{node.lineno}: {func.id}()")
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            owner, attr = func.value.id, func.attr
            if owner == "os" and BANNED_OS.match(attr):
                problems.append(f"{name}:{node.lineno}: os.{attr}()")
            if owner == "yaml" and attr != "safe_load" and "load" in attr:
                problems.append(f"{name}:{node.lineno}: yaml.{attr}()")
            if owner in BANNED_MODULES and (name, owner) not in ALLOWED_IMPORTS:
                problems.append(f"{name}:{node.lineno}: {owner}.{attr}()")
    return problems


def test_I3_nothing_in_gwd_runs_code_or_programs_from_data() -> None:
    problems = [p for name, tree in sources() for p in banned(name, tree)]
    assert problems == []
    workers = dict(sources())["workers.py"]
    popen = [n for n in ast.walk(workers) if isinstance(n, ast.Call)
             and ast.unparse(n.func) == "subprocess.Popen"]
    assert [ast.unparse(n.args[0]) for n in popen] == ["self.command"]  # gwd's own argv


def test_the_checks_catch_what_they_look_for() -> None:
    bad = ast.parse("import jinja2\nimport pickle, subprocess\nfrom os import system\n"
                    "eval(x)\nexec(y)\nos.system(z)\nos.popen(z)\nyaml.load(s)\n"
                    "yaml.unsafe_load(s)\nsubprocess.run(cmd)\n__import__(m)\n")
    found = banned("handlers/x.py", bad)
    for needle in ("import jinja2", "import pickle", "import subprocess", "eval()", "exec()",
                   "os.system()", "os.popen()", "yaml.load()", "yaml.unsafe_load()",
                   "subprocess.run()", "__import__()"):
        assert any(needle in p for p in found), needle
    assert banned("config.py", ast.parse("yaml.safe_load(fh)\n")) == []
    assert banned("workers.py", ast.parse("import subprocess\nsubprocess.Popen(c)\n")) == []
    assert SQL.search('f"SELECT * FROM gw_keys WHERE token_hash = {h}"')
    assert not SQL.search("the key was deleted; select another and update it")


def test_aiohttp_runs_its_c_parser_and_is_recent_enough() -> None:
    assert "AIOHTTP_NO_EXTENSIONS" not in os.environ
    assert http_parser.HttpRequestParser is http_parser.HttpRequestParserC
    assert http_parser.HttpRequestParserC is not http_parser.HttpRequestParserPy
    version = tuple(int(p) for p in re.findall(r"\d+", aiohttp.__version__)[:3])
    assert version >= (3, 13, 3)
    pin = re.search(r'"aiohttp>=([0-9.]+)"', (REPO / "pyproject.toml").read_text())
    assert pin and tuple(int(p) for p in pin.group(1).split(".")) >= (3, 13, 3)
    probe = ("import aiohttp.http_parser as p, aiohttp.web_protocol as w; "
             "print(p.HttpRequestParser is p.HttpRequestParserC, "
             "w.HttpRequestParser is p.HttpRequestParserC)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO, timeout=30)
    assert out.stdout.split() == ["True", "True"], out.stderr
