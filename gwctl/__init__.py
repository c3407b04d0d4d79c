"""gwctl: the operator's command-line client for gwd's admin API.

A thin client: every command is one or a few HTTP calls to gwd (``client.py``),
rendered for a terminal with rich or for a script as JSON/CSV (``output.py``).
The package version is gw's, shared with gwd.
"""

from gwd import __version__

__all__ = ["__version__"]
