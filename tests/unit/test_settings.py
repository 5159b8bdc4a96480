import pytest

from gatepass.cli import main
from gatepass.gateway.settings import GatewaySettings
from gatepass.gatewayconfig import GatewayConfig, to_env
from gatepass.operator.settings import SHARED, OperatorSettings
from tests.support.settings import read_from


def test_namespaces_from_a_comma_separated_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEPASS_NAMESPACES", "team-a, team-b,,")
    assert OperatorSettings().namespaces == ["team-a", "team-b"]
    assert GatewaySettings().namespaces == ["team-a", "team-b"]
    monkeypatch.setenv("GATEPASS_NAMESPACES", "")
    assert OperatorSettings().namespaces == []


def test_invalid_settings_are_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEPASS_WORKERS", "zero")
    assert main(["operator"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gatepass operator: invalid settings:")
    assert "workers" in err
    assert "Traceback" not in err


def test_libraries_that_log_bodies_stay_at_info_even_at_debug() -> None:
    import logging

    from gatepass.cli import BODY_LOGGERS, _logging

    root = logging.getLogger()
    before = root.level
    try:
        _logging("DEBUG")
        assert root.level == logging.DEBUG
        for name in (*BODY_LOGGERS, "kubernetes_asyncio.client.rest", "kubernetes.client.rest"):
            assert logging.getLogger(name).getEffectiveLevel() >= logging.INFO, name
    finally:
        root.setLevel(before)


def test_the_default_inactivity_rule(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert OperatorSettings().inactivity is None  # off unless the admin sets it
    monkeypatch.setenv("GATEPASS_INACTIVITY_AFTER", "2160h")
    monkeypatch.setenv("GATEPASS_INACTIVITY_ACTION", "delete")
    rule = OperatorSettings().inactivity
    assert rule is not None
    assert (rule.after, rule.action) == ("2160h", "delete")
    monkeypatch.setenv("GATEPASS_INACTIVITY_AFTER", "never")
    assert OperatorSettings().inactivity is None
    monkeypatch.setenv("GATEPASS_INACTIVITY_AFTER", "24h")  # below Cloudflare's 30 days
    assert main(["operator"]) == 2
    err = capsys.readouterr().err
    assert "inactivity_after" in err
    assert "between 720h and 8760h" in err


# Every gateway setting, none at its default: what the operator writes, the gateway reads back.
ALL_APART = {
    "issuer": "https://login.example.org",
    "port": 8443,
    "admin_port": 9443,
    "bind_address": "::",
    "key_namespace": "gp-system",
    "key_secret": "gp-keys",
    "namespaces": ["team-a", "team-b"],
    "last_seen_configmap": "gp-seen",
    "last_seen_interval": 2.5,
    "cookie_secure": False,
    "strict_service_token_auth": True,
    "upstream_allow": ["*.example.org", "10.0.0.0/8"],
    "cluster_domain": "k8s.example",
    "trusted_proxies": ["192.0.2.0/24"],
    "upstream_timeout": 12.0,
    "upstream_connections": 100,
    "upstream_connections_per_app": 10,
    "upstream_queue_timeout": 0.5,
    "header_timeout": 3.0,
    "max_headers": 32,
    "max_header_line": 4096,
    "jwt_cache_size": 0,
    "authorize_cache_seconds": 7,
    "drain_seconds": 1.5,
    "shutdown_timeout": 4.0,
    "workload_identity": False,
    "workload_audiences": ["https://aud.example"],
    "access_log": False,
    "log_level": "DEBUG",
}


def test_every_gateway_setting_survives_the_trip_through_the_environment() -> None:
    assert ALL_APART.keys() == GatewayConfig.model_fields.keys(), "a new setting: give it a value here"
    config = GatewayConfig(**ALL_APART)
    for field, value in ALL_APART.items():
        assert value != getattr(GatewayConfig(), field), field
    gateway = read_from(GatewaySettings, to_env(config))
    assert gateway.model_dump() == config.model_dump()


def test_the_operator_reads_the_gateways_own_settings_under_the_names_it_always_did() -> None:
    env = {
        "GATEPASS_GATEWAY_PORT": "8443",
        "GATEPASS_GATEWAY_ADMIN_PORT": "9443",
        "GATEPASS_GATEWAY_COOKIE_SECURE": "false",
        "GATEPASS_GATEWAY_ACCESS_LOG": "false",
        "GATEPASS_GATEWAY_DRAIN_SECONDS": "3",
        "GATEPASS_GATEWAY_SHUTDOWN_TIMEOUT": "4",
        "GATEPASS_GATEWAY_WORKLOAD_IDENTITY": "false",
        "GATEPASS_GATEWAY_WORKLOAD_AUDIENCES": "https://a.example,https://b.example",
        "GATEPASS_GATEWAY_LAST_SEEN_INTERVAL": "1",
        # ...and any other the gateway has, by the same rule.
        "GATEPASS_GATEWAY_UPSTREAM_TIMEOUT": "9",
        # The shared ones are the operator's own.
        "GATEPASS_NAMESPACE": "gp-system",
        "GATEPASS_ISSUER": "https://login.example.org",
        "GATEPASS_TRUSTED_PROXIES": "192.0.2.1",
        # Not gateway settings: the Deployment's shape.
        "GATEPASS_GATEWAY_NAME": "gp-gateway",
        "GATEPASS_GATEWAY_REPLICAS": "3",
    }
    settings = read_from(OperatorSettings, env)
    g = settings.gateway
    assert (g.port, g.admin_port, g.cookie_secure, g.access_log) == (8443, 9443, False, False)
    assert (g.drain_seconds, g.shutdown_timeout, g.last_seen_interval, g.upstream_timeout) == (3, 4, 1, 9)
    assert (g.workload_identity, g.workload_audiences) == (False, ["https://a.example", "https://b.example"])
    assert (g.key_namespace, g.issuer, g.trusted_proxies) == (
        "gp-system",
        "https://login.example.org",
        ["192.0.2.1"],
    )
    assert (settings.gateway_name, settings.gateway_replicas) == ("gp-gateway", 3)
    assert settings.upstream_policy == g.upstream_policy  # the operator checks what the gateway enforces


def test_a_shared_setting_set_for_the_gateway_alone_stops_the_operator(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GATEPASS_ISSUER", "https://login.example.org")
        mp.setenv("GATEPASS_GATEWAY_ISSUER", "https://elsewhere.example.org")
        assert main(["operator"]) == 2
    err = capsys.readouterr().err
    assert "GATEPASS_GATEWAY_ISSUER: the gateway takes these from the operator's own settings" in err
    with pytest.raises(ValueError, match="GATEPASS_GATEWAY_ADMIN_PORT=0"):
        read_from(OperatorSettings, {"GATEPASS_GATEWAY_ADMIN_PORT": "0"})


def test_shared_settings_mean_the_same_to_operator_and_gateway() -> None:
    """A gateway run by hand, without them, agrees with an operator run without them."""
    operator, gateway = read_from(OperatorSettings, {}), read_from(GatewaySettings, {})
    for field in SHARED:
        assert OperatorSettings.model_fields[field].annotation == GatewayConfig.model_fields[field].annotation
        assert getattr(operator, field) == getattr(gateway, field), field
    assert operator.gateway.model_dump() == gateway.model_dump()
