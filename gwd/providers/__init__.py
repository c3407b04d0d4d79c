"""Provider registry: the ``model`` prefix of a deployment -> its pure translator."""

from __future__ import annotations

from .anthropic import AnthropicProvider
from .base import Provider
from .huggingface import HuggingFaceProvider
from .mock import MockProvider
from .ollama import OllamaChatProvider, OllamaProvider
from .openai import AzureProvider, OpenAIProvider, OpenRouterProvider

_REGISTRY: dict[str, Provider] = {
    "openai": OpenAIProvider(),
    "azure": AzureProvider(),
    "openrouter": OpenRouterProvider(),
    "mock": MockProvider(),
    "anthropic": AnthropicProvider(),
    "ollama": OllamaProvider(),
    "ollama_chat": OllamaChatProvider(),
    "huggingface": HuggingFaceProvider(),
}


def get_provider(name: str) -> Provider:
    """The provider for a config prefix (config validation guarantees it exists)."""
    return _REGISTRY[name]
