"""LiteLLM's config settings gw does not honour, and what gw does instead of each.

A LiteLLM config.yaml must start unchanged under gwd, and nothing in it may be
ignored silently (SPEC §4a). :mod:`gwd.config` and :mod:`gwd.litellm_settings`
honour what they can; every key they leave aside is handed to :func:`summarise`,
which turns them all into ONE start-up warning naming each setting and saying
what gw does instead. The table is data taken from LiteLLM's documented
settings (its docs' "All settings" reference, proxy/configs.md, reliability.md);
a key LiteLLM does not know either is named as such (a typo is likely).

Sections: ``top`` (top-level keys), ``general_settings``, ``litellm_settings``,
``router_settings``, ``litellm_params`` (per deployment), ``model_info``.
"""

from __future__ import annotations

from collections.abc import Iterable

Section = str

_LOGGING = "gw has no logging callbacks: use GET /metrics, the JSON access log " \
           "(general_settings.access_log) or GET /spend/logs"
_CACHE = "gw does not cache responses: every call goes upstream"
_SSO = "gw has no SSO/JWT login: admin routes take the master key"
_ALERTS = "gw does not send alerts: scrape GET /metrics and alert from there"
_REDIS = "gw's routing state is per process; replicas share keys, budgets and spend " \
         "through the database"
_GUARD = "gw has no guardrails or request hooks"
_PRECALL = "gw does not pre-check context windows: an upstream context error is " \
           "answered as 400 (or sent to context_window_fallbacks)"
_DEBUG = "use gwd --log-level"
_EE = "an enterprise feature gw does not have"
_PASS = "gw has no pass-through routes"
_SECRETS = "gw reads secrets from the environment only (os.environ/NAME)"
_POLICY = "gw retries connect errors, timeouts, 429 and 5xx on another deployment " \
          "(num_retries) and never retries other 4xx"
_DB_MODELS = "gw's models come from model_list (reload with POST /config/reload)"
_TAGS = "gw routes by model group only; request tags are accepted and ignored for routing"
_NONE = "gw does not implement it"

INSTEAD: dict[Section, dict[str, str]] = {
    "top": {
        "callback_settings": _LOGGING,
        "guardrails": _GUARD,
        "assistant_settings": "gw has no Assistants API",
        "credential_list": _SECRETS,
        "mcp_servers": "gw has no MCP gateway",
        "search_tools": "gw has no search tools",
        "vector_store_registry": "gw has no vector stores",
        "files_settings": "gw has no Files API",
        "finetune_settings": "gw has no fine-tuning API",
        "pass_through_endpoints": _PASS,
        "prompts": "gw has no prompt management",
        "alerting_settings": _ALERTS,
    },
    "general_settings": {
        "completion_model": "the request's model is always used",
        "embedding_model": "the request's model is always used",
        "image_generation_model": "the request's model is always used",
        "moderation_model": "the request's model is always used",
        "store_prompts_in_spend_logs": "gw's ledger never stores prompts or answers",
        "forward_client_headers_to_llm_api": "gw never forwards client headers upstream",
        "forward_openai_org_id": "set litellm_params.organization per deployment",
        "disable_spend_logs": "gw always writes the ledger (spend is exact by design)",
        "disable_spend_updates": "gw always records spend",
        "disable_master_key_return": "gw never returns the master key",
        "disable_retry_on_max_parallel_request_limit_error": _NONE,
        "disable_reset_budget": _NONE,
        "disable_adding_master_key_hash_to_db": "gw never stores the master key",
        "disable_responses_id_security": _NONE,
        "enable_jwt_auth": _SSO, "litellm_jwtauth": _SSO, "custom_sso": _SSO,
        "enable_oauth2_auth": _SSO, "enable_oauth2_proxy_auth": _SSO,
        "oauth2_config_mappings": _SSO, "allow_user_auth": _SSO, "ui_access_mode": _SSO,
        "enforce_user_param": _NONE,
        "reject_clientside_metadata_tags": "request metadata never changes budgets in gw",
        "allowed_routes": _EE, "public_routes": _EE, "admin_only_routes": _EE,
        "enforced_params": _EE, "litellm_license": _EE, "service_account_settings": _EE,
        "key_management_system": _SECRETS, "key_management_settings": _SECRETS,
        "use_azure_key_vault": _SECRETS, "use_google_kms": _SECRETS,
        "maximum_spend_logs_retention_period": "gw keeps the whole ledger",
        "maximum_spend_logs_retention_interval": "gw keeps the whole ledger",
        "user_mcp_management_mode": "gw has no MCP gateway",
        "custom_auth": "gw's auth is its virtual keys and the master key",
        "custom_key_generate": "keys are minted by gw (POST /key/generate)",
        "max_parallel_requests": "use general_settings.global_max_parallel_requests "
                                 "(proxy-wide) and rpm/tpm per deployment",
        "infer_model_from_keys": _NONE,
        "background_health_checks": "gw cools failing deployments down on real calls; "
                                    "no background probes",
        "health_check_interval": "gw has no background health checks",
        "health_check_details": _NONE,
        "alerting": _ALERTS, "alerting_threshold": _ALERTS, "alert_types": _ALERTS,
        "alerting_args": _ALERTS, "alert_to_webhook_url": _ALERTS,
        "spend_report_frequency": "use GET /spend/keys or gwctl spend",
        "use_client_credentials_pass_through_routes": _PASS,
        "pass_through_endpoints": _PASS,
        "use_x_forwarded_for": "gw does not filter by client IP",
        "allowed_ips": "gw does not filter by client IP: use a firewall",
        "store_model_in_db": _DB_MODELS, "supported_db_objects": _DB_MODELS,
        "max_request_size_mb": "use general_settings.max_request_body_mb",
        "max_response_size_mb": "gw bounds upstream bodies itself",
        "proxy_budget_rescheduler_min_time": _NONE,
        "proxy_budget_rescheduler_max_time": _NONE,
        "proxy_batch_write_at": "use general_settings.spend_flush_interval",
        "proxy_batch_polling_interval": "gw has no Batches API",
        "default_team_disabled": _NONE,
        "user_api_key_cache_ttl": "use general_settings.key_cache_ttl",
        "disable_prisma_schema_update": "gw migrates its own schema",
        "litellm_key_header_name": "keys go in Authorization: Bearer or api-key",
        "allow_client_side_credentials": "gw refuses credentials in request bodies",
        "ui_username": _SSO, "ui_password": _SSO,
    },
    "litellm_settings": {
        "success_callback": _LOGGING, "failure_callback": _LOGGING, "callbacks": _LOGGING,
        "service_callbacks": _LOGGING, "turn_off_message_logging": "gw never logs messages",
        "redact_user_api_key_info": "gw never logs keys", "langfuse_default_tags": _LOGGING,
        "json_logs": "use general_settings.access_log for JSON lines",
        "set_verbose": _DEBUG, "modify_params": _NONE, "enable_preview_features": _NONE,
        "force_ipv4": "gw connects to the address api_base resolves to",
        "mcp_aliases": "gw has no MCP gateway",
        "cache": _CACHE, "cache_params": _CACHE,
        "disable_end_user_cost_tracking": _NONE,
        "disable_end_user_cost_tracking_prometheus_only": _NONE,
        "key_generation_settings": "only the master key generates keys",
        "disable_add_transform_inline_image_block": _NONE,
        "use_chat_completions_url_for_anthropic_messages": _NONE,
        "disable_hf_tokenizer_download": "gw bounds prompts by their byte count",
        "enable_json_schema_validation": _NONE,
        "enable_key_alias_format_validation": _NONE,
        "disable_copilot_system_to_assistant": _NONE,
        "telemetry": "gw sends no telemetry",
        "max_internal_user_budget": "internal users are not in gw yet",
        "internal_user_budget_duration": "internal users are not in gw yet",
        "default_internal_user_params": "internal users are not in gw yet",
        "default_team_settings": "teams are not in gw yet",
        "guardrails": _GUARD, "enable_loadbalancing_on_batch_endpoints": "gw has no Batches API",
        "allowed_fails": "set router_settings.allowed_fails",
        "cooldown_time": "set router_settings.cooldown_time",
        "retry_policy": _POLICY, "allowed_fails_policy": _POLICY,
        "return_response_headers": "gw returns its own x-gw-*/x-litellm-* headers",
        "tag_budget_config": _TAGS, "public_model_groups": _NONE,
        "model_group_settings": _NONE, "disable_token_counter": _NONE,
        "drop_params": "gw forwards the client's body as sent; an upstream 400 for an "
                       "unsupported parameter is passed through",
        "default_key_generate_params": "keys get gw's defaults (general_settings."
                                       "default_key_duration)",
        "upperbound_key_generate_params": "not enforced yet: only the master key mints keys",
        "max_budget": "no proxy-wide budget yet: set max_budget per key",
        "budget_duration": "no proxy-wide budget yet: set max_budget per key",
    },
    "router_settings": {
        "redis_host": _REDIS, "redis_password": _REDIS, "redis_port": _REDIS,
        "redis_db": _REDIS, "redis_url": _REDIS, "cache_kwargs": _REDIS,
        "enable_pre_call_check": _PRECALL, "enable_pre_call_checks": _PRECALL,
        "optional_pre_call_checks": _PRECALL,
        "enable_tag_filtering": _TAGS, "tag_filtering_match_any": _TAGS,
        "disable_cooldowns": "gw always cools failing deployments down "
                             "(set cooldown_time small to soften it)",
        "retry_policy": _POLICY, "allowed_fails_policy": _POLICY,
        "model_group_retry_policy": _POLICY,
        "default_max_parallel_requests": "use rpm/tpm per deployment",
        "default_priority": "gw has no request queue", "polling_interval": "gw has no request queue",
        "default_litellm_params": _NONE, "debug_level": _DEBUG, "set_verbose": _DEBUG,
        "client_ttl": "gw keeps one connection pool for its lifetime",
        "routing_strategy_args": "gw's strategies take no arguments",
        "caching_groups": _CACHE, "cache_responses": _CACHE,
        "alerting_config": _ALERTS, "assistants_config": "gw has no Assistants API",
        "retry_after": "gw retries at once on another deployment",
        "provider_budget_config": "budgets are per key in gw",
        "router_general_settings": _NONE,
        "deployment_affinity_ttl_seconds": _NONE,
        "ignore_invalid_deployments": "gw refuses a config with an invalid deployment",
        "search_tools": "gw has no search tools", "guardrail_list": _GUARD,
        "max_fallbacks": "gw tries every fallback group listed",
        "stream_timeout": "set litellm_params.stream_timeout per deployment",
    },
    "litellm_params": {
        "drop_params": "gw forwards the client's body as sent; the upstream's 400 for an "
                       "unsupported parameter is passed through",
        "additional_drop_params": "gw forwards the client's body as sent",
        "max_parallel_requests": "use rpm/tpm",
        "tags": _TAGS, "region_name": _NONE, "aws_region_name": _NONE,
        "vertex_project": _NONE, "vertex_location": _NONE, "vertex_credentials": _NONE,
        "aws_access_key_id": _NONE, "aws_secret_access_key": _NONE,
        "custom_llm_provider": "the provider is the prefix of model",
        "model_info": "model_info belongs beside litellm_params, not inside it",
        "temperature": "defaults per deployment are not applied; the client's body is sent",
        "max_tokens": "defaults per deployment are not applied; the client's body is sent",
        "extra_headers": _NONE, "headers": _NONE, "use_in_pass_through": _PASS,
        "cache_control_injection_points": _NONE, "merge_reasoning_content_in_choices": _NONE,
        "azure_ad_token": _SECRETS, "tenant_id": _SECRETS, "client_id": _SECRETS,
        "client_secret": _SECRETS, "litellm_credential_name": _SECRETS,
        "configurable_clientside_auth_params": "gw refuses credentials in request bodies",
        "budget_duration": "budgets are per key in gw", "max_budget": "budgets are per key in gw",
        "mock_testing_fallbacks": _NONE,
        "mock_timeout": "gw has no simulated timeouts: use a request's timeout",
        "input_cost_per_second": "gw prices per token (and per image, second or character "
                                 "where the price table has it), not per second of a "
                                 "deployment: set input_cost_per_token",
        "output_cost_per_second": "gw prices per token: set output_cost_per_token",
        "health_check_timeout": "gw has no background health checks",
    },
    "model_list[]": {
        "rpm": "beside litellm_params it is ignored (LiteLLM too): put it inside litellm_params",
        "tpm": "beside litellm_params it is ignored (LiteLLM too): put it inside litellm_params",
    },
    "model_info": {
        "max_tokens": "informational in gw", "max_input_tokens": _PRECALL,
        "max_output_tokens": "informational in gw",
        "supports_function_calling": "informational in gw",
        "supports_vision": "informational in gw", "description": "informational in gw",
        "access_groups": "keys list model groups in gw", "team_id": "teams are not in gw yet",
        "health_check_model": "gw has no background health checks",
        "health_check_timeout": "gw has no background health checks",
        "tier": _NONE, "litellm_provider": "the provider is the prefix of model",
    },
}


def instead(section: Section, name: str) -> str:
    """What gw does instead of a setting it does not honour."""
    said = INSTEAD.get(section, {}).get(name)
    if said is not None:
        return said
    return "not a LiteLLM setting gw knows of (a typo?)"


def summarise(ignored: Iterable[tuple[Section, str, str]]) -> str | None:
    """One warning naming every setting left aside, or None when there is none.

    ``ignored`` holds ``(section, name, where)``; a per-deployment key ignored in
    several entries is named once with every entry that has it.
    """
    order: list[tuple[Section, str]] = []
    places: dict[tuple[Section, str], list[str]] = {}
    for section, name, where in ignored:
        key = (section, name)
        if key not in places:
            order.append(key)
            places[key] = []
        if where and where not in places[key]:
            places[key].append(where)
    if not order:
        return None
    parts = []
    for section, name in order:
        label = name if section == "top" else f"{section}.{name}"
        where = places[(section, name)]
        if where:
            label += " in " + (", ".join(where[:3]) + (f" and {len(where) - 3} more"
                                                       if len(where) > 3 else ""))
        parts.append(f"{label} ({instead(section, name)})")
    return (f"{len(order)} LiteLLM setting(s) not honoured by gw, each with what gw does "
            "instead: " + "; ".join(parts))
