"""Which ``model`` prefixes gw knows, as data: the one table of the OpenAI-compatible family,
the prefixes with a translator of their own, and LiteLLM's other prefixes.

Pure data and lookups, importing nothing from gwd, so ``config.py`` can ask it at load time:

* :data:`COMPATIBLE` -- hosts that speak OpenAI's wire format: default API base, the
  environment variables LiteLLM reads the key (and base) from, the endpoints the host
  serves, and its quirks (what must not be sent, what it calls a field). One row each;
  ``providers/compatible.py`` is the one translator for all of them.
* :data:`NATIVE` -- prefixes with a translator module of their own (``anthropic/``, ...),
  with the extra ``litellm_params`` each one reads (credentials, project, region).
* :data:`LITELLM_ONLY` -- every other provider prefix LiteLLM knows (its ``LlmProviders``
  list). A deployment with one of these starts with a warning and its calls answer 400
  naming the provider as unsupported; a prefix in none of these tables is a config error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ALL_ENDPOINTS = frozenset({"chat", "completions", "embeddings"})
CHAT = frozenset({"chat"})
CHAT_COMPLETIONS = frozenset({"chat", "completions"})
CHAT_EMBEDDINGS = frozenset({"chat", "embeddings"})


@dataclass(frozen=True, slots=True)
class Compatible:
    """One OpenAI-compatible host, as LiteLLM documents it (docs/providers/<name>.md)."""

    api_base: str | None                 # None: the operator must give api_base (or base_env)
    key_env: tuple[str, ...] = ()        # first set one is the key when api_key is not given
    base_env: tuple[str, ...] = ()       # first set one is the base when api_base is not given
    endpoints: frozenset[str] = ALL_ENDPOINTS
    stream_options: bool = True          # accepts stream_options.include_usage
    renames: Mapping[str, str] = field(default_factory=dict)   # OpenAI field -> host's field


COMPATIBLE: dict[str, Compatible] = {
    "openai": Compatible("https://api.openai.com/v1", ("OPENAI_API_KEY",),
                         ("OPENAI_API_BASE", "OPENAI_BASE_URL")),
    "openrouter": Compatible("https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY",),
                             ("OPENROUTER_API_BASE",)),
    "groq": Compatible("https://api.groq.com/openai/v1", ("GROQ_API_KEY",),
                       ("GROQ_API_BASE",), CHAT),
    "mistral": Compatible("https://api.mistral.ai/v1", ("MISTRAL_API_KEY",),
                          ("MISTRAL_API_BASE",), CHAT_EMBEDDINGS, stream_options=False,
                          renames={"max_completion_tokens": "max_tokens"}),
    "deepseek": Compatible("https://api.deepseek.com", ("DEEPSEEK_API_KEY",),
                           ("DEEPSEEK_API_BASE",), CHAT),
    "xai": Compatible("https://api.x.ai/v1", ("XAI_API_KEY",), ("XAI_API_BASE",), CHAT),
    "together_ai": Compatible("https://api.together.xyz/v1",
                              ("TOGETHERAI_API_KEY", "TOGETHER_AI_API_KEY", "TOGETHER_API_KEY"),
                              ("TOGETHERAI_API_BASE",)),
    "fireworks_ai": Compatible("https://api.fireworks.ai/inference/v1",
                               ("FIREWORKS_AI_API_KEY", "FIREWORKS_API_KEY",
                                "FIREWORKSAI_API_KEY"), ("FIREWORKS_AI_API_BASE",)),
    "perplexity": Compatible("https://api.perplexity.ai", ("PERPLEXITYAI_API_KEY",
                                                            "PERPLEXITY_API_KEY"),
                             ("PERPLEXITY_API_BASE",), CHAT, stream_options=False,
                             renames={"max_completion_tokens": "max_tokens"}),
    "cerebras": Compatible("https://api.cerebras.ai/v1", ("CEREBRAS_API_KEY",),
                           ("CEREBRAS_API_BASE",), CHAT_COMPLETIONS),
    "deepinfra": Compatible("https://api.deepinfra.com/v1/openai", ("DEEPINFRA_API_KEY",),
                            ("DEEPINFRA_API_BASE",)),
    "text-completion-openai": Compatible("https://api.openai.com/v1", ("OPENAI_API_KEY",),
                                         ("OPENAI_API_BASE", "OPENAI_BASE_URL"),
                                         frozenset({"completions"})),
    "hosted_vllm": Compatible(None, ("HOSTED_VLLM_API_KEY",), ("HOSTED_VLLM_API_BASE",)),
    "lm_studio": Compatible("http://localhost:1234/v1", ("LM_STUDIO_API_KEY",),
                            ("LM_STUDIO_API_BASE",)),
}

#: prefixes with a translator of their own -> the extra litellm_params they read
NATIVE: dict[str, tuple[str, ...]] = {
    "anthropic": (),
    "azure": (),
    "mock": ("mock_response",),
    "ollama": (),
    "ollama_chat": (),
    "huggingface": (),
    "gemini": (),
    "cohere": (),
    "bedrock": ("aws_access_key_id", "aws_secret_access_key", "aws_session_token",
                "aws_region_name", "aws_profile_name", "aws_role_name", "aws_session_name",
                "aws_bedrock_runtime_endpoint"),
    "vertex_ai": ("vertex_project", "vertex_location", "vertex_credentials"),
}

#: provider settings gw reads but does not act on fully: the start-up warning for each
PARAM_NOTES: dict[str, str] = {
    "aws_role_name": "gw does not assume IAM roles (no STS call); the deployment signs with "
                     "the other credentials (keys, profile or environment)",
    "aws_session_name": "used only with aws_role_name, which gw does not do; ignored",
}

#: what a native prefix reads its key from when the config gives none
NATIVE_KEY_ENV: dict[str, tuple[str, ...]] = {
    "gemini": ("GEMINI_API_KEY",),
    "cohere": ("COHERE_API_KEY", "CO_API_KEY"),
}

#: a native prefix's default API base (config shows it; the translator knows it too)
NATIVE_BASE: dict[str, str] = {
    "gemini": "https://generativelanguage.googleapis.com",
    "cohere": "https://api.cohere.com",
}

#: LiteLLM's provider prefixes (its ``LlmProviders`` enum) that gw does not serve
LITELLM_ONLY: frozenset[str] = frozenset({
    "openai_like", "jina_ai", "custom_openai", "cohere", "cohere_chat", "clarifai",
    "anthropic_text", "bytez", "replicate", "runwayml", "datarobot", "vertex_ai",
    "vertex_ai_beta", "gemini", "ai21", "baseten", "azure_text", "azure_ai", "sagemaker",
    "sagemaker_chat", "bedrock", "vllm", "nlp_cloud", "petals", "oobabooga", "milvus",
    "nvidia_nim", "ai21_chat", "volcengine", "codestral", "text-completion-codestral",
    "dashscope", "moonshot", "v0", "morph", "lambda_ai", "sambanova", "maritalk", "voyage",
    "cloudflare", "xinference", "friendliai", "featherless_ai", "watsonx", "watsonx_text",
    "triton", "predibase", "databricks", "empower", "github", "compactifai",
    "docker_model_runner", "custom", "litellm_proxy", "llamafile", "galadriel", "nebius",
    "infinity", "deepgram", "elevenlabs", "novita", "aiohttp_openai", "langfuse",
    "humanloop", "topaz", "assemblyai", "github_copilot", "snowflake", "gradient_ai",
    "meta_llama", "nscale", "pg_vector", "hyperbolic", "recraft", "fal_ai", "heroku", "aiml",
    "cometapi", "oci", "auto_router", "vercel_ai_gateway", "dotprompt", "wandb", "ovhcloud",
    "lemonade",
}) - frozenset(COMPATIBLE) - frozenset(NATIVE)


def served() -> tuple[str, ...]:
    """Every prefix gw has a translator for, sorted."""
    return tuple(sorted(set(COMPATIBLE) | set(NATIVE)))


def is_unsupported(prefix: str) -> bool:
    """A LiteLLM prefix gw knows of but does not serve."""
    return prefix in LITELLM_ONLY


def extra_params(prefix: str) -> tuple[str, ...]:
    """The provider-specific ``litellm_params`` a prefix reads (beyond the common ones)."""
    return NATIVE.get(prefix, ())


def key_from_env(prefix: str, env: Mapping[str, str]) -> str | None:
    """The API key LiteLLM would take from the environment for this prefix, if set."""
    row = COMPATIBLE.get(prefix)
    names = row.key_env if row is not None else NATIVE_KEY_ENV.get(prefix, ())
    return next((env[n] for n in names if env.get(n)), None)


def base_from_env(prefix: str, env: Mapping[str, str]) -> str | None:
    """The API base from the environment, else the table's default (None: must be given)."""
    row = COMPATIBLE.get(prefix)
    if row is None:
        return None
    return next((env[n] for n in row.base_env if env.get(n)), None) or row.api_base
