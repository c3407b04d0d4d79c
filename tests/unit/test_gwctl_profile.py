"""gwctl's profile file (gwctl.profile) and its place among the other sources, in-process:
command line > environment variable > the file's named profile > its top level > default."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gwctl import profile
from gwctl.__main__ import main
from gwctl.checks import url_hint

FILE = """\
url = "http://127.0.0.1:1"
master_key = "sk-from-the-file"
timeout = 7

[profiles.prod]
url = "http://127.0.0.2:2"
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in ("GWCTL_URL", "GWCTL_MASTER_KEY", "GWCTL_TIMEOUT", "GWCTL_PROFILE",
                 "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    file = tmp_path / "config.toml"
    file.write_text(FILE)
    file.chmod(0o600)
    monkeypatch.setenv("GWCTL_CONFIG", str(file))
    return {"GWCTL_CONFIG": str(file)}


def test_the_file_gives_defaults_and_a_named_profile_overrides_them(
        env: dict[str, str]) -> None:
    assert profile.defaults([], env) == {"url": "http://127.0.0.1:1",
                                         "master_key": "sk-from-the-file", "timeout": 7}
    prod = {"url": "http://127.0.0.2:2", "master_key": "sk-from-the-file", "timeout": 7}
    assert profile.defaults(["--profile", "prod", "models"], env) == prod
    assert profile.defaults(["--profile=prod"], env) == prod
    assert profile.defaults([], {**env, "GWCTL_PROFILE": "prod"}) == prod
    assert profile.defaults(["--", "--profile", "prod"], env)["url"] == "http://127.0.0.1:1"


def test_the_default_place_is_xdg_config_home_then_home(tmp_path: Path) -> None:
    assert profile.path({"XDG_CONFIG_HOME": str(tmp_path)}) == \
        tmp_path / "gwctl" / "config.toml"
    assert profile.path({"HOME": str(tmp_path)}) == tmp_path / ".config/gwctl/config.toml"
    assert profile.defaults([], {"HOME": str(tmp_path)}) == {}  # no file: no defaults


@pytest.mark.parametrize(("text", "said"), [
    ("url = [", "cannot read"), ("colour = 'red'", "unknown setting 'colour'"),
    ("timeout = 'soon'", "timeout must be a number"), ("url = 1", "url must be a string"),
    ("profiles = 1", "[profiles] must be tables"),
    ("[profiles.x]\nport = 1", "[profiles.x]: unknown setting 'port'")])
def test_a_bad_file_is_a_usage_error_naming_it(env: dict[str, str], text: str, said: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    Path(env["GWCTL_CONFIG"]).write_text(text)
    with pytest.raises(profile.ProfileError, match="config.toml") as exc:
        profile.defaults([], env)
    assert said in str(exc.value)
    with pytest.raises(SystemExit) as run:
        main(["models"])
    assert run.value.code == 2 and said in capsys.readouterr().err


def test_an_unknown_profile_is_a_usage_error(env: dict[str, str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as run:
        main(["--profile", "staging", "models"])
    assert run.value.code == 2
    assert "no profile 'staging' (profiles: prod)" in capsys.readouterr().err


def test_option_beats_environment_beats_file(env: dict[str, str],
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    def unreachable_url(*argv: str) -> str:
        with pytest.raises(SystemExit) as run:
            main([*argv, "--timeout", "0.5", "health"])
        assert run.value.code == 3
        return capsys.readouterr().err.split("cannot reach gwd at ")[1].split(":")[1]

    assert unreachable_url() == "//127.0.0.1"
    assert unreachable_url("--profile", "prod") == "//127.0.0.2"
    monkeypatch.setenv("GWCTL_URL", "http://127.0.0.3:3")
    assert unreachable_url("--profile", "prod") == "//127.0.0.3"
    assert unreachable_url("--url", "http://127.0.0.4:4") == "//127.0.0.4"


def test_a_master_key_file_others_can_read_draws_a_warning(env: dict[str, str]) -> None:
    file = Path(env["GWCTL_CONFIG"])
    values = profile.defaults([], env)
    assert profile.warning(env, values) is None
    if os.name == "posix":
        file.chmod(0o644)
        assert "chmod 600" in (profile.warning(env, values) or "")
        assert profile.warning(env, {"url": "x"}) is None  # no key in it: no warning


def test_a_url_ending_in_v1_is_trimmed_with_a_note() -> None:
    assert url_hint("http://h:8000/v1") == ("http://h:8000", url_hint("http://h:8000/v1/")[1])
    assert "without /v1" in (url_hint("http://h:8000/v1")[1] or "")
    assert url_hint("http://h:8000") == ("http://h:8000", None)
    assert url_hint("http://h:8000/gw") == ("http://h:8000/gw", None)
