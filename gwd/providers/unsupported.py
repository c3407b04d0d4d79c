"""A LiteLLM provider prefix gw knows of but does not serve (``sagemaker/``, ...).

Such a deployment lets the config start (with a warning naming the prefix) so the
rest of a LiteLLM config still runs; it serves no endpoint, so a call to its model
group answers 400 naming the provider as unsupported (see ``policy.py``), and a
group that also has served deployments routes only to those.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from ..config import Deployment
from .base import Endpoint, Provider


class UnsupportedProvider(Provider):
    unsupported = True

    def __init__(self, name: str) -> None:
        self.name = name

    def supports(self, endpoint: Endpoint) -> bool:
        return False

    def _never(self) -> NoReturn:
        raise RuntimeError(f"provider {self.name!r} is not supported by gw")

    def build_request(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                      stream: bool) -> NoReturn:
        self._never()

    def parse_response(self, dep: Deployment, endpoint: Endpoint, body: Mapping[str, Any],
                       payload: bytes) -> NoReturn:
        self._never()

    def stream_translator(self, dep: Deployment, endpoint: Endpoint,
                          body: Mapping[str, Any]) -> NoReturn:
        self._never()
