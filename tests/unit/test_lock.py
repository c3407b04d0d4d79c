"""The committed dependency locks agree with pyproject.toml and pin every file by hash.

``requirements.txt`` (runtime) and ``requirements-test.txt`` (runtime + test extras) are
what the README's commands and ``.ci/run`` install. This fails when someone edits a
dependency in pyproject.toml without running ``bash .ci/lock``, or edits a lock by hand.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def read_lock(name: str) -> dict[str, tuple[str, int]]:
    """``{canonical name: (version, number of hashes)}`` of every pin in a lock file."""
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in (REPO / name).read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            pins[current] = (match.group(2), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, count = pins[current]
            pins[current] = (version, count + 1)
    return pins


def applies(req: Requirement, extra: str = "") -> bool:
    env = {**default_environment(), "extra": extra}
    return req.marker is None or req.marker.evaluate(env)


@pytest.mark.parametrize(("lock", "extras"), [("requirements.txt", []),
                                              ("requirements-test.txt", ["test"])])
def test_lock_satisfies_every_requirement_of_pyproject(lock: str, extras: list[str]) -> None:
    meta = project()
    wanted = [Requirement(text) for text in meta["dependencies"]]
    for extra in extras:
        wanted += [Requirement(text) for text in meta["optional-dependencies"][extra]]
    pins = read_lock(lock)
    for req in wanted:
        if not applies(req, extras[0] if extras else ""):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in pyproject.toml but not in {lock}: bash .ci/lock"
        version = pins[name][0]
        assert req.specifier.contains(version, prereleases=True), \
            f"{lock} pins {req.name}=={version}, outside pyproject.toml's {req}: bash .ci/lock"


@pytest.mark.parametrize("lock", ["requirements.txt", "requirements-test.txt"])
def test_every_pin_has_hashes(lock: str) -> None:
    pins = read_lock(lock)
    assert len(pins) >= 10
    unhashed = [name for name, (_, hashes) in pins.items() if hashes == 0]
    assert not unhashed, f"{lock} pins without --hash: {unhashed}"


def test_runtime_lock_is_the_test_lock_minus_test_only_packages() -> None:
    """The two locks agree on every package they share, so tests run what users run."""
    run, test = read_lock("requirements.txt"), read_lock("requirements-test.txt")
    assert set(run) <= set(test)
    differ = {name: (run[name][0], test[name][0]) for name in run if run[name][0] != test[name][0]}
    assert not differ, f"the locks pin different versions: {differ}: bash .ci/lock"


def test_lock_names_the_command_that_refreshes_it() -> None:
    for lock in ("requirements.txt", "requirements-test.txt"):
        assert "bash .ci/lock" in (REPO / lock).read_text().split("\n", 3)[1], lock
