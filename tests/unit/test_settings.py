import pytest

from gatepass.cli import main
from gatepass.gateway.settings import GatewaySettings
from gatepass.operator.settings import OperatorSettings


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
