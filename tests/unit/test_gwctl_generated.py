"""The generated man pages and completion scripts: ``--check``, coverage, and the
completion protocol the scripts rely on.

``python -m gwctl._gen`` writes man/ and completions/ from the code; the test that
the committed files are current is in tests/e2e/test_gwctl.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.gwd import REPO

GENERATED = ("man/gwctl.1", "man/gwd.1", "completions/gwctl.bash", "completions/gwctl.zsh",
             "completions/gwctl.fish")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GWCTL_", "_GWCTL_"))}
    return {**env, "PYTHONPATH": str(REPO), **extra}


def _complete(words: str, cword: int) -> list[str]:
    proc = subprocess.run([sys.executable, "-m", "gwctl"], capture_output=True, text=True,
                          env=_env(COMP_WORDS=words, COMP_CWORD=str(cword),
                                   _GWCTL_COMPLETE="complete_bash"), timeout=30, cwd=REPO)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return proc.stdout.split()


def test_check_names_stale_and_missing_files(tmp_path: Path) -> None:
    # (tests/e2e/test_gwctl.py compares a fresh generation with the committed files)
    from gwctl import _gen

    assert _gen.main(["--out", str(tmp_path)]) == 0
    assert sorted(_gen.render()) == sorted(GENERATED)
    assert _gen.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "man/gwd.1").write_text("stale\n")
    (tmp_path / "completions/gwctl.zsh").unlink()
    check = subprocess.run([sys.executable, "-m", "gwctl._gen", "--check", "--out",
                            str(tmp_path)], env=_env(), cwd=REPO, capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 1
    assert check.stderr.splitlines() == [
        "stale: man/gwd.1 (run: python -m gwctl._gen)",
        "stale: completions/gwctl.zsh (run: python -m gwctl._gen)"]
    assert _gen.main(["--check"]) == 0  # the committed files


def test_generated_pages_cover_every_command_and_option() -> None:
    page = (REPO / "man/gwctl.1").read_text()
    for name in ("gwctl key create", "gwctl key info", "gwctl key list", "gwctl key update",
                 "gwctl key delete", "gwctl key regenerate", "gwctl key block",
                 "gwctl key unblock", "gwctl spend", "gwctl models", "gwctl config reload",
                 "gwctl health"):
        assert f'.SS "{name}' in page
    for option in ("\\-\\-max\\-budget", "\\-\\-alias", "\\-\\-csv", "\\-\\-yes", "GWCTL_URL"):
        assert option in page
    assert "\\-\\-allow\\-weak\\-master\\-key" in (REPO / "man/gwd.1").read_text()


def test_completion_protocol_answers_for_the_shipped_scripts() -> None:
    assert "_GWCTL_COMPLETE=complete_bash" in (REPO / "completions/gwctl.bash").read_text()
    assert "_GWCTL_COMPLETE=complete_zsh" in (REPO / "completions/gwctl.zsh").read_text()
    assert "_GWCTL_COMPLETE=complete_fish" in (REPO / "completions/gwctl.fish").read_text()
    assert _complete("gwctl ", 1) == ["key", "spend", "models", "config", "health",
                                      "completion", "team", "user", "customer", "org"]
    assert _complete("gwctl team ", 2)[-2:] == ["member-add", "member-remove"]
    assert _complete("gwctl key ", 2) == ["create", "info", "list", "update", "delete",
                                          "regenerate", "block", "unblock"]
    assert _complete("gwctl spend --by ", 3) == ["key", "model", "day"]
