"""config.yaml loading: LiteLLM format, os.environ/ values, one-line errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gwd.config import ConfigError, is_weak_master_key, load_config, split_model


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


WALKTHROUGH = """
model_list:
  - model_name: my-free-tier
    litellm_params:
      model: huggingface/HuggingFaceH4/zephyr-7b-beta
      api_base: http://0.0.0.0:8001
  - model_name: my-free-tier
    litellm_params: {model: huggingface/HuggingFaceH4/zephyr-7b-beta, api_base: http://0.0.0.0:8002}
  - model_name: my-paid-tier
    litellm_params:
      model: gpt-4
      api_key: os.environ/OPENAI_API_KEY
general_settings:
  master_key: sk-1234
  database_url: "postgresql://user:pass@host:5432/db"
router_settings:
  routing_strategy: simple-shuffle
  num_retries: 2
  timeout: 600
"""


def test_spec_example_loads_into_groups(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, WALKTHROUGH), env={"OPENAI_API_KEY": "sk-upstream"})
    groups = config.groups
    assert list(groups) == ["my-free-tier", "my-paid-tier"]
    free = groups["my-free-tier"]
    assert [d.provider for d in free] == ["huggingface", "huggingface"]
    assert free[0].model == "HuggingFaceH4/zephyr-7b-beta"
    assert free[0].id != free[1].id
    paid = groups["my-paid-tier"][0]
    assert (paid.provider, paid.model, paid.api_key) == ("openai", "gpt-4", "sk-upstream")
    assert paid.api_base == "https://api.openai.com/v1"
    assert config.general.master_key == "sk-1234"
    assert config.database_url.startswith("postgresql://")
    assert (config.router.num_retries, config.router.timeout) == (2, 600.0)


def test_repr_of_deployment_hides_the_api_key(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, WALKTHROUGH), env={"OPENAI_API_KEY": "sk-upstream"})
    assert "sk-upstream" not in repr(config)


def test_unset_environment_variable_is_a_one_line_error(tmp_path: Path) -> None:
    path = write(tmp_path, WALKTHROUGH)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    text = str(err.value)
    assert "\n" not in text
    assert str(path) in text and "model_list[2]" in text and "OPENAI_API_KEY" in text


@pytest.mark.parametrize("body, fragment", [
    ("model_list: [", "YAML error"),
    ("model_list:\n  - model_name: x\n    litellm_params: {model: foo/bar}\n",
     "unknown provider 'foo/'"),
    ("model_list:\n  - litellm_params: {model: gpt-4}\n", "model_name is missing"),
    ("model_list:\n  - model_name: x\n", "litellm_params is missing"),
    ("model_list:\n  - model_name: x\n    litellm_params: {api_base: http://a}\n",
     "litellm_params.model is missing"),
    ("model_list:\n  - model_name: x\n    litellm_params: {model: gpt-4, rpm: fast}\n",
     "litellm_params.rpm: must be a number"),
    ("model_list:\n  - model_name: x\n    litellm_params: {model: gpt-4, timeout: -1}\n",
     "litellm_params.timeout: must be > 0"),
    ("model_list:\n  - model_name: x\n    litellm_params: {model: huggingface/z}\n",
     "api_base is required"),
    ("model_list:\n  - model_name: x\n    litellm_params: {model: gpt-4, api_base: ftp://x}\n",
     "http:// or https:// URL"),
    ("model_list: []\n", "non-empty list"),
    ("general_settings: {}\n", "model_list: is missing"),
    ("model_list:\n  - model_name: x\n    litellm_params: {model: gpt-4}\n"
     "router_settings: {routing_strategy: magic}\n", "unknown strategy 'magic'"),
    ("model_list:\n  - model_name: x\n    litellm_params: {model: gpt-4}\n"
     "general_settings: {database_url: mysql://x}\n", "must start with sqlite:///"),
    ("model_list:\n  - model_name: x\n    litellm_params: {model: gpt-4}\n"
     "general_settings: {default_key_duration: 5 minutes}\n", "invalid duration"),
    ("model_list:\n  - model_name: x\n    litellm_params:\n      model: gpt-4\n"
     "      input_cost_per_token: cheap\n", "must be a price in USD"),
    ("- just\n- a list\n", "top level: must be a mapping"),
])
def test_bad_config_names_file_entry_and_problem(tmp_path: Path, body: str,
                                                 fragment: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    text = str(err.value)
    assert text.startswith(str(path)) and "\n" not in text
    assert fragment in text


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_unknown_keys_warn_but_load(tmp_path: Path) -> None:
    path = write(tmp_path, "model_list:\n  - model_name: x\n    litellm_params:\n"
                           "      model: gpt-4\n      drop_params: true\n"
                           "litellm_settings: {set_verbose: true}\n")
    config = load_config(path, env={})
    assert any("litellm_params.drop_params" in w for w in config.warnings)
    assert any("litellm_settings" in w for w in config.warnings)


def test_prices_are_exact_decimals(tmp_path: Path) -> None:
    path = write(tmp_path, "model_list:\n  - model_name: x\n    litellm_params:\n"
                           "      model: mock/x\n      input_cost_per_token: 0.0000001\n"
                           "      output_cost_per_token: '0.0000003'\n")
    dep = load_config(path, env={}).deployments[0]
    assert dep.input_cost_per_token == Decimal("0.0000001")
    assert dep.output_cost_per_token == Decimal("0.0000003")


def test_sqlite_is_the_default_store_next_to_the_config(tmp_path: Path) -> None:
    path = write(tmp_path, "model_list:\n  - model_name: x\n    litellm_params: {model: mock/x}\n")
    config = load_config(path, env={})
    assert config.database_url == f"sqlite:///{tmp_path.resolve()}/gw.sqlite3"


def test_usage_based_routing_falls_back_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "model_list:\n  - model_name: x\n    litellm_params: {model: gpt-4}\n"
                           "router_settings: {routing_strategy: usage-based-routing-v2}\n")
    config = load_config(path, env={})
    assert config.router.routing_strategy == "simple-shuffle"
    assert any("usage-based-routing-v2" in w for w in config.warnings)


@pytest.mark.parametrize("model, expected", [
    ("gpt-4", ("openai", "gpt-4")),
    ("openai/gpt-4o", ("openai", "gpt-4o")),
    ("claude-3-5-sonnet-20241022", ("anthropic", "claude-3-5-sonnet-20241022")),
    ("azure/my-deployment", ("azure", "my-deployment")),
    ("openrouter/anthropic/claude-3.5-sonnet", ("openrouter", "anthropic/claude-3.5-sonnet")),
    ("ollama/llama2", ("ollama", "llama2")),
    ("ollama_chat/llama3", ("ollama_chat", "llama3")),
    ("huggingface/HuggingFaceH4/zephyr-7b-beta", ("huggingface", "HuggingFaceH4/zephyr-7b-beta")),
    ("mock/anything", ("mock", "anything")),
    ("llama2", None),
    ("sagemaker/my-endpoint", ("sagemaker", "my-endpoint")),  # known to LiteLLM: a warning
    ("nosuch/claude", None),
    ("openai/", None),
])
def test_split_model(model: str, expected: tuple[str, str] | None) -> None:
    assert split_model(model) == expected


def test_weak_master_keys() -> None:
    assert is_weak_master_key("sk-1234")
    assert is_weak_master_key("short")
    assert not is_weak_master_key("sk-9f8e7d6c5b4a39281706")
