"""Start-up cost: gwd imports provider translators (and other large tables) only when used."""

from __future__ import annotations

import ast
import subprocess
import sys

from gwd.config import PROVIDERS
from gwd.providers import get_provider
from gwd.providers.base import Provider


def test_every_config_prefix_has_a_provider() -> None:
    for name in PROVIDERS:
        provider = get_provider(name)
        assert isinstance(provider, Provider)
        assert get_provider(name) is provider  # made once


def test_importing_gwd_loads_no_unused_translator() -> None:
    code = ("import sys, gwd.app, gwd.__main__; "
            "print(sorted(m for m in sys.modules if m.startswith('gwd.providers.')"
            " or m == 'gwd.openapi'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    loaded = ast.literal_eval(out)
    assert "gwd.openapi" not in loaded
    for lazy in ("gwd.providers.anthropic", "gwd.providers.ollama",
                 "gwd.providers.huggingface"):
        assert lazy not in loaded
