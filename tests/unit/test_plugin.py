"""The kubectl plugin's own logic (its verbs run against the API server in tests/e2e)."""

from datetime import UTC, datetime, timedelta

import pytest

from gatepass.plugin import Fail, grace_end, parser, policies_table

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_grace_end_now_at_or_in() -> None:
    assert grace_end(None, None, NOW) == NOW
    assert grace_end("2026-03-02T00:00:00Z", None, NOW) == datetime(2026, 3, 2, tzinfo=UTC)
    assert grace_end("2026-03-02T01:00:00+01:00", None, NOW) == datetime(2026, 3, 2, tzinfo=UTC)
    assert grace_end(None, "90m", NOW) == NOW + timedelta(minutes=90)


@pytest.mark.parametrize(
    ("at", "after", "message"),
    [
        ("tomorrow", None, "--at: not an RFC 3339 time"),
        ("2026-03-02T00:00:00", None, "--at: not an RFC 3339 time with a zone"),
        (None, "2 hours", "--in: not a duration"),
        ("2026-03-02T00:00:00Z", "2h", "give --at or --in, not both"),
    ],
)
def test_grace_end_refuses_what_it_cannot_read(at: str | None, after: str | None, message: str) -> None:
    with pytest.raises(Fail, match=message):
        grace_end(at, after, NOW)


def test_end_grace_is_a_verb() -> None:
    args = parser().parse_args(["end-grace", "ci", "--in", "2h"])
    assert (args.verb, args.name, args.after, args.at) == ("end-grace", "ci", "2h", None)


def test_rotate_signing_key_defaults_to_the_chart_names() -> None:
    args = parser().parse_args(["rotate-signing-key"])
    assert (args.operator_namespace, args.secret) == ("gatepass-system", "gatepass-signing-keys")


def test_policies_are_listed_in_order_with_references_resolved() -> None:
    app = {
        "spec": {
            "policies": [
                {"policyRef": {"name": "shared-ci"}},
                {"name": "ops", "decision": "serviceAuth", "include": []},
                {"policyRef": {"name": "gone"}},
                {"decision": "deny", "include": []},
            ]
        }
    }
    found = {"shared-ci": {"spec": {"decision": "bypass", "include": []}}, "gone": None}
    rows = [line.split(None, 3) for line in policies_table(app, found).splitlines()]
    assert rows == [
        ["#", "POLICY", "DECISION", "FROM"],
        ["1", "shared-ci", "bypass", "AccessPolicy shared-ci"],
        ["2", "ops", "serviceAuth", "inline"],
        ["3", "gone", "MISSING", "AccessPolicy gone"],
        ["4", "-", "deny", "inline"],
    ]
    assert parser().parse_args(["policies", "site"]).name == "site"
