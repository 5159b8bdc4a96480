from datetime import timedelta

import pytest

from gatepass.models.durations import FOREVER, parse, parse_lifetime


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8760h", timedelta(hours=8760)),
        ("90m", timedelta(minutes=90)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1.5h", timedelta(minutes=90)),
        ("500ms", timedelta(milliseconds=500)),
        ("2s500ms", timedelta(seconds=2.5)),
        ("0", timedelta(0)),
        ("0s", timedelta(0)),
        ("1µs", timedelta(microseconds=1)),
    ],
)
def test_parse_accepts_go_durations(text: str, expected: timedelta) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    "text", ["", "10d", "-5m", "1y", "h", "5 m", "1h-30m", "forever", "1e3s", "P1D", "9" * 60 + "h"]
)
def test_parse_rejects_what_go_or_the_crd_would_not_accept(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse(text)


def test_lifetime_is_none_for_forever_and_positive_otherwise() -> None:
    assert parse_lifetime(FOREVER) is None
    assert parse_lifetime("720h") == timedelta(days=30)
    with pytest.raises(ValueError, match="positive"):
        parse_lifetime("0s")
