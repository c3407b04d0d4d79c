"""Provider registry: the ``model`` prefix of a deployment -> its pure translator.

A provider's module is imported the first time it is asked for (the runtime asks
for those of the configured deployments at start), so gwd does not pay at start-up
for translators its config never uses.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from . import catalog

if TYPE_CHECKING:  # base imports config, which imports catalog from this package
    from .base import Provider

#: config prefix -> (module in this package, class)
_CLASSES: dict[str, tuple[str, str]] = {
    "openai": ("openai", "OpenAIProvider"),
    "azure": ("openai", "AzureProvider"),
    "openrouter": ("openai", "OpenRouterProvider"),
    "mock": ("mock", "MockProvider"),
    "anthropic": ("anthropic", "AnthropicProvider"),
    "ollama": ("ollama", "OllamaProvider"),
    "ollama_chat": ("ollama", "OllamaChatProvider"),
    "huggingface": ("huggingface", "HuggingFaceProvider"),
    "gemini": ("gemini", "GeminiProvider"),
    "cohere": ("cohere", "CohereProvider"),
    "bedrock": ("bedrock", "BedrockProvider"),
    "vertex_ai": ("vertex", "VertexProvider"),
}
_REGISTRY: dict[str, Provider] = {}


def get_provider(name: str) -> Provider:
    """The provider for a config prefix (config validation guarantees it is known)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        provider: Provider
        if name in _CLASSES:
            module, cls = _CLASSES[name]
            provider = getattr(import_module(f".{module}", __name__), cls)()
        elif name in catalog.COMPATIBLE:   # the rest of the OpenAI-compatible table
            provider = import_module(".compatible", __name__).CompatibleProvider(name)
        else:                              # a LiteLLM prefix gw does not serve
            provider = import_module(".unsupported", __name__).UnsupportedProvider(name)
        _REGISTRY[name] = provider
        return provider
