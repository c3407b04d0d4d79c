"""Parsing the egress settings (litellm_settings.ssl_verify; per deployment ssl_verify,
ssl_certfile, ssl_keyfile, proxy) and turning a config into an egress plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gwd.config import ConfigError, load_config
from gwd.egress import EgressPlan
from gwd.upstream import Upstream
from tests.support.tlslab import TLSLab

SECRET = "hunter2-proxy-secret"


def write(tmp_path: Path, params: dict[str, Any] | None = None, **top: Any) -> Path:
    path = tmp_path / "config.yaml"
    entry = {"model_name": "g", "litellm_params": {
        "model": "openai/gpt-4o", "api_base": "https://api.example.com/v1", **(params or {})}}
    path.write_text(yaml.safe_dump({"model_list": [entry, {
        "model_name": "plain", "litellm_params": {"model": "openai/gpt-4o"}}], **top}))
    return path


def test_fields_are_parsed_and_false_warns(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, {"ssl_verify": "false", "ssl_certfile": "~/c.pem",
                                          "ssl_keyfile": "/k.pem",
                                          "proxy": "os.environ/DEP_PROXY"},
                               litellm_settings={"ssl_verify": "certs/ca.pem"}),
                         env={"DEP_PROXY": f"http://u:{SECRET}@proxy:3128"})
    dep = config.deployments[0]
    assert (dep.ssl_verify, dep.ssl_certfile, dep.ssl_keyfile) == (
        False, str(Path("~/c.pem").expanduser()), "/k.pem")
    assert dep.proxy == f"http://u:{SECRET}@proxy:3128" and SECRET not in repr(dep)
    assert config.ssl_verify == str(tmp_path.resolve() / "certs" / "ca.pem")  # beside config
    assert config.deployments[1].ssl_verify is None and config.deployments[1].proxy is None
    assert any("ssl_verify is false" in w and "model_list[0]" in w for w in config.warnings)
    assert not any("not used by gw" in w for w in config.warnings)


def test_proxy_false_means_direct(tmp_path: Path) -> None:
    for value in (False, "false", "none"):
        assert load_config(write(tmp_path, {"proxy": value}), env={}
                           ).deployments[0].proxy is False


@pytest.mark.parametrize(("params", "top", "message"), [
    ({"ssl_verify": 3}, {}, "litellm_params.ssl_verify: must be true, false or a CA bundle"),
    ({"ssl_keyfile": "/k.pem"}, {}, "ssl_keyfile: needs ssl_certfile"),
    ({"proxy": 8080}, {}, "litellm_params.proxy: must be a proxy URL or false"),
    ({}, {"litellm_settings": {"ssl_verify": ["x"]}}, "litellm_settings.ssl_verify: must be"),
])
def test_bad_values_are_one_line_errors(tmp_path: Path, params: dict[str, Any],
                                        top: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, params, **top), env={})
    assert message in str(err.value)


def test_the_plan_shares_contexts_and_names_bad_settings(tmp_path: Path) -> None:
    lab = TLSLab(tmp_path)
    cert, key = lab.client_cert()
    path = write(tmp_path, {"ssl_verify": lab.ca_file, "ssl_certfile": cert,
                            "ssl_keyfile": key}, litellm_settings={"ssl_verify": lab.ca_file})
    config = load_config(path, env={})
    plan = EgressPlan(config, {"HTTPS_PROXY": f"http://u:{SECRET}@proxy.corp:3128"})
    mine, plain = (plan.get(dep) for dep in config.deployments)
    assert plain is plan.default and mine is not plain and mine.context is not plain.context
    assert len(plan.contexts) == 2
    assert plain.route(("api.openai.com", 443, True)).proxy == plan.proxies.https
    assert plain.route(("api.openai.com", 443, True)) is plain.route(("api.openai.com", 443,
                                                                        True))

    with pytest.raises(ConfigError) as err:
        EgressPlan(config, {"HTTPS_PROXY": f"socks5://u:{SECRET}@proxy:1"})
    assert "HTTPS_PROXY" in str(err.value) and SECRET not in str(err.value)

    bad = load_config(write(tmp_path, {"proxy": f"https://u:{SECRET}@proxy:1"}), env={})
    with pytest.raises(ConfigError) as err:
        EgressPlan(bad, {})
    assert "litellm_params.proxy" in str(err.value) and SECRET not in str(err.value)

    missing = load_config(write(tmp_path, {"ssl_certfile": str(tmp_path / "nope.pem")}), env={})
    with pytest.raises(ConfigError) as err:
        EgressPlan(missing, {})
    assert "model_list[0]" in str(err.value) and "file not found" in str(err.value)


def test_a_bad_reload_keeps_the_old_plan(tmp_path: Path) -> None:
    upstream = Upstream(load_config(write(tmp_path), env={}), env={})
    old = upstream.plan
    bad = load_config(write(tmp_path, litellm_settings={"ssl_verify": "/no/such/ca.pem"}),
                      env={})
    with pytest.raises(ConfigError, match="litellm_settings"):
        upstream.configure(bad, env={})
    assert upstream.plan is old
