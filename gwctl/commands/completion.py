"""``gwctl completion bash|zsh|fish``: print the shell completion script.

The same script as completions/gwctl.<shell> (both come from ``gwctl._gen``), so
``eval "$(gwctl completion bash)"`` works where the package's files are not at hand.
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion(shell: Annotated[Shell, typer.Argument(
        metavar="bash|zsh|fish", show_default=False, help="The shell to complete in.")]) -> None:
    """Print the completion script for a shell. bash: eval "$(gwctl completion bash)"
    in ~/.bashrc; zsh: gwctl completion zsh > "${fpath[1]}/_gwctl"; fish: gwctl
    completion fish > ~/.config/fish/completions/gwctl.fish."""
    from .._gen import completion as script

    sys.stdout.write(script(shell.value))
