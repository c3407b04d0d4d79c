"""Provider registry: the ``model`` prefix of a deployment -> its pure translator.

A provider's module is imported the first time it is asked for (the runtime asks
for those of the configured deployments at start), so gwd does not pay at start-up
for translators its config never uses.
"""

from __future__ import annotations

from importlib import import_module

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
}
_REGISTRY: dict[str, Provider] = {}


def get_provider(name: str) -> Provider:
    """The provider for a config prefix (config validation guarantees it exists)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        module, cls = _CLASSES[name]
        provider: Provider = getattr(import_module(f".{module}", __name__), cls)()
        _REGISTRY[name] = provider
        return provider
