"""gw: an OpenAI-compatible LLM gateway. ``gwd`` is the daemon, ``gwctl`` the CLI."""

__version__ = "0.1.0"
