"""gwctl's command line in-process: usage errors (exit 2), a server that is not gwd
(exit 1), unreachable URLs (exit 3).

The e2e suite runs the real executable for a few of these; this covers the whole
matrix quickly through the same ``gwctl.__main__.main``.
"""

from __future__ import annotations

import http.server
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from gwctl.__main__ import main
from tests.support.gwd import REPO


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GWCTL_URL", "GWCTL_MASTER_KEY", "GWCTL_TIMEOUT", "_GWCTL_COMPLETE",
                 "GWCTL_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GWCTL_CONFIG", "/nonexistent/gwctl/config.toml")


def _exit(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    code = exc.value.code
    return code if isinstance(code, int) else 0 if code is None else 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("argv", [
    ["key", "create", "--alias", "no-equals-sign"],
    ["key", "create", "--alias", "from="],
    ["key", "create", "--alias", "=to"],
    ["key", "create", "--metadata", "novalue"],
    ["key", "create", "--max-budget", "lots"],
    ["key", "create", "--max-budget", "nan"],
    ["key", "create", "--bogus"],
    ["key", "create", "--json", "-q"],
    ["key", "info"],
    ["key", "update", "sk-whatever"],
    ["key", "delete"],
    ["spend", "--by", "week"],
    ["spend", "--json", "--csv"],
    ["no-such-command"],
    ["--url", "ftp://example.com", "models"],
    ["--url", "http://h/?x=1", "models"],
    ["--timeout", "0", "models"],
    ["--timeout", "soon", "models"],
])
def test_usage_error_exits_2_with_usage_on_stderr(argv: list[str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Usage: gwctl" in err and "Error" in err
    assert "Traceback" not in err


def test_unreachable_exits_3_with_one_line_naming_the_url(
        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    assert _exit(["--url", url, "--master-key", "sk-x", "key", "list", "--json"]) == 3
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"gwctl: cannot reach gwd at {url}: ")
    assert err.count("\n") == 1


def test_version_and_help_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit(["--version"]) == 0
    assert capsys.readouterr().out.startswith("gwctl ")
    assert _exit(["key", "--help"]) == 0
    out = capsys.readouterr().out
    for command in ("create", "info", "list", "update", "delete"):
        assert command in out


class _NotGwd(http.server.BaseHTTPRequestHandler):
    """Answers like a web server that is not gwd: HTML, and a 502 on /models."""

    def do_GET(self) -> None:
        status = 502 if self.path.endswith("/models") else 200
        body = b"<html>Bad Gateway</html>"
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def not_gwd() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotGwd)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_a_server_that_is_not_gwd_is_a_refusal(not_gwd: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit(["--url", not_gwd, "models"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == (f"gwctl: the server at {not_gwd} answered 'Bad Gateway' "
                                 "without a gwd error message (HTTP 502)\n")
    assert _exit(["--url", not_gwd, "health", "--json"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == (f"gwctl: the server at {not_gwd} did not answer with JSON; "
                                 "is it gwd? (HTTP 200)\n")


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert _exit([*argv, "--help"]) == 0
    return capsys.readouterr().out


def test_help_shows_no_type_placeholders_and_create_no_update_wording(
        capsys: pytest.CaptureFixture[str]) -> None:
    pages = {" ".join(argv): _help(argv, capsys) for argv in (
        [], ["key"], ["key", "create"], ["key", "info"], ["key", "list"], ["key", "update"],
        ["key", "delete"], ["spend"], ["models"], ["health"], ["completion"])}
    for name, page in pages.items():
        assert not re.search(r"<(str|int|float|list\[\w+\]|[a-z|]+)>", page), (name, page)
        assert "{" not in page.split("\n", 1)[0], name  # usage: KEY, not {KEY}
    assert "Usage: gwctl key info [OPTIONS] KEY\n" in pages["key info"]
    assert "Usage: gwctl key delete [OPTIONS] KEY...\n" in pages["key delete"]
    assert "update" not in pages["key create"].lower()
    assert "replaces" in pages["key update"] and "from now" in pages["key update"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_shipped_script(shell: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit(["completion", shell]) == 0
    out, err = capsys.readouterr()
    assert out == (REPO / "completions" / f"gwctl.{shell}").read_text() and err == ""
    assert _exit(["completion", "powershell"]) == 2
