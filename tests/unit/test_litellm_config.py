"""LiteLLM config sections beyond model_list: every setting honoured or named, every error at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from gwd.config import ConfigError, ConfigErrors, load_config
from gwd.litellm_table import INSTEAD, instead, summarise

ONE = "model_list:\n  - model_name: g\n    litellm_params: {model: mock/g}\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_every_bad_entry_and_setting_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "model_list:\n"
                 "  - model_name: a\n    litellm_params: {model: gpt-4, rpm: many}\n"
                 "  - model_name: b\n    litellm_params: {model: nope/x}\n"
                 "  - model_name: c\n    litellm_params: {model: mock/c}\n"
                 "general_settings: {database_url: mysql://x, drain_timeout: -1}\n"
                 "router_settings: {routing_strategy: magic}\n"
                 "litellm_settings: {fallbacks: 3}\n")
    with pytest.raises(ConfigErrors) as err:
        load_config(path, env={})
    lines = str(err.value).splitlines()
    assert len(lines) == len(err.value.errors) == 6
    assert all(line.startswith(str(path)) for line in lines)
    for fragment in ("model_list[0] (model_name 'a'): litellm_params.rpm", "'nope/'",
                     "database_url", "drain_timeout", "unknown strategy 'magic'",
                     "litellm_settings.fallbacks"):
        assert sum(fragment in line for line in lines) == 1, fragment


def test_a_single_error_is_still_one_plain_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, ONE + "router_settings: {num_retries: x}\n"), env={})
    assert not isinstance(err.value, ConfigErrors) and "\n" not in str(err.value)


def test_settings_gw_does_not_honour_are_named_in_one_warning_with_what_it_does_instead(
        tmp_path: Path) -> None:
    path = write(tmp_path, "model_list:\n"
                 "  - model_name: a\n    litellm_params: {model: mock/a, drop_params: true}\n"
                 "    model_info: {max_input_tokens: 8000}\n"
                 "  - model_name: b\n    litellm_params: {model: mock/b, drop_params: true}\n"
                 "litellm_settings: {success_callback: [langfuse], cache: true, "
                 "mystery_knob: 1}\n"
                 "general_settings: {alerting: [slack]}\n"
                 "router_settings: {redis_host: localhost}\n"
                 "guardrails: []\n")
    warnings = load_config(path, env={}).warnings
    named = [w for w in warnings if "not honoured by gw" in w]
    assert len(named) == 1
    text = named[0]
    assert "litellm_params.drop_params in model_list[0], model_list[1]" in text
    for section, name in [("litellm_settings", "success_callback"),
                          ("litellm_settings", "cache"), ("general_settings", "alerting"),
                          ("router_settings", "redis_host"), ("model_info", "max_input_tokens"),
                          ("top", "guardrails")]:
        assert instead(section, name) in text
    assert "litellm_settings.mystery_knob (not a LiteLLM setting gw knows of" in text


def test_no_warning_when_everything_is_honoured(tmp_path: Path) -> None:
    path = write(tmp_path, ONE + "litellm_settings: {num_retries: 1, request_timeout: 30}\n"
                 "environment_variables: {A: b}\n")
    assert load_config(path, env={}).warnings == ()
    assert summarise([]) is None


def test_table_entries_say_something_for_each_setting() -> None:
    for section, names in INSTEAD.items():
        for name, text in names.items():
            assert text and instead(section, name) == text


def test_environment_variables_feed_os_environ_values(tmp_path: Path) -> None:
    path = write(tmp_path, "environment_variables:\n  UPSTREAM_KEY: sk-from-config-env\n"
                 "  PORT_NUMBER: 6329\n  FROM_OUTSIDE: os.environ/OUTER\n"
                 "model_list:\n  - model_name: g\n"
                 "    litellm_params: {model: gpt-4, api_key: os.environ/UPSTREAM_KEY,"
                 " api_base: os.environ/FROM_OUTSIDE}\n")
    config = load_config(path, env={"OUTER": "http://127.0.0.1:9"})
    assert config.deployments[0].api_key == "sk-from-config-env"
    assert config.deployments[0].api_base == "http://127.0.0.1:9"
    assert config.litellm.environment == {"UPSTREAM_KEY": "sk-from-config-env",
                                          "PORT_NUMBER": "6329",
                                          "FROM_OUTSIDE": "http://127.0.0.1:9"}


def test_os_environ_in_general_and_router_settings(tmp_path: Path) -> None:
    path = write(tmp_path, ONE + "general_settings: {master_key: os.environ/MK}\n"
                 "router_settings: {num_retries: os.environ/NR}\n"
                 "litellm_settings: {fallbacks: os.environ/NOPE}\n")
    with pytest.raises(ConfigError, match="NOPE is not set"):
        load_config(path, env={"MK": "sk-master-key-long-enough", "NR": "4"})
    path = write(tmp_path, ONE + "general_settings: {master_key: os.environ/MK}\n"
                 "router_settings: {num_retries: os.environ/NR}\n")
    config = load_config(path, env={"MK": "sk-master-key-long-enough", "NR": "4"})
    assert (config.general.master_key, config.router.num_retries) == (
        "sk-master-key-long-enough", 4)


def test_litellm_settings_retries_and_timeout_apply_unless_router_settings_set_them(
        tmp_path: Path) -> None:
    path = write(tmp_path, ONE + "litellm_settings: {num_retries: 5, request_timeout: 42}\n")
    router = load_config(path, env={}).router
    assert (router.num_retries, router.timeout) == (5, 42.0)
    path = write(tmp_path, ONE + "litellm_settings: {num_retries: 5, request_timeout: 42}\n"
                 "router_settings: {num_retries: 1, timeout: 7}\n")
    router = load_config(path, env={}).router
    assert (router.num_retries, router.timeout) == (1, 7.0)


def test_fallbacks_and_aliases_from_both_sections_router_settings_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "model_list:\n" + "".join(
        f"  - model_name: {n}\n    litellm_params: {{model: mock/{n}}}\n"
        for n in ("a", "b", "c", "d")) +
        "litellm_settings:\n  fallbacks: [{a: [b]}]\n  default_fallbacks: [d]\n"
        "  context_window_fallbacks: [{a: [c, d]}]\n"
        "  model_group_alias: {gpt-4: a, hidden-one: {model: b, hidden: true}}\n"
        "router_settings:\n  fallbacks: [{a: [c]}, {b: d}]\n"
        "  content_policy_fallbacks: [{b: [a]}]\n")
    settings = load_config(path, env={}).litellm
    rules = settings.fallbacks
    assert dict(rules.generic) == {"a": ("c",), "b": ("d",)}
    assert dict(rules.context_window) == {"a": ("c", "d")}
    assert dict(rules.content_policy) == {"b": ("a",)}
    assert rules.default == ("d",)
    assert dict(settings.model_group_alias) == {"gpt-4": "a", "hidden-one": "b"}
    assert settings.hidden_aliases == {"hidden-one"}


@pytest.mark.parametrize("text, fragment", [
    ("router_settings: {fallbacks: [a]}\n", "router_settings.fallbacks[0]: must be a mapping"),
    ("router_settings: {fallbacks: [{g: [1]}]}\n", "must be a list of model group names"),
    ("litellm_settings: {model_group_alias: [x]}\n", "model_group_alias: must be a mapping"),
    ("environment_variables: [A]\n", "environment_variables: must be a mapping"),
    ("environment_variables: {A: [1]}\n", "environment_variables.A: must be a string"),
])
def test_bad_litellm_sections_are_config_errors(tmp_path: Path, text: str,
                                                fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, ONE + text), env={})
    assert fragment in str(err.value)


def test_fallback_to_a_group_not_served_is_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, ONE + "router_settings: {fallbacks: [{g: [ghost]}], "
                 "model_group_alias: {x: phantom}}\n")
    warnings = load_config(path, env={}).warnings
    assert any("ghost" in w for w in warnings) and any("phantom" in w for w in warnings)


def test_litellm_example_spellings(tmp_path: Path) -> None:
    """From LiteLLM's proxy_server_config.yaml: a bare dall-e-3 is OpenAI's; "azure/" alone
    names no deployment; per-second prices and mock_timeout are named with what gw does."""
    path = write(tmp_path, "model_list:\n"
                 "  - model_name: d\n    litellm_params: {model: dall-e-3}\n"
                 "  - model_name: s\n    litellm_params: {model: mock/s, "
                 "input_cost_per_second: 0.00042, mock_timeout: true}\n"
                 "    model_info: {health_check_timeout: 1}\n")
    config = load_config(path, env={})
    assert config.deployments[0].provider == "openai"
    text = config.warnings[-1]
    for name in ("input_cost_per_second", "mock_timeout", "health_check_timeout"):
        assert name in text
    assert "a typo" not in text
    bad = write(tmp_path, "model_list:\n  - model_name: x\n    litellm_params: "
                "{model: azure/, api_base: 'https://x.example'}\n")
    with pytest.raises(ConfigError, match="names no model"):
        load_config(bad, env={})
