"""The signing keys the gateway holds: the newest signs, every one verifies."""

from __future__ import annotations

from gatepass.trust.signing import SigningKey


class KeyRing:
    """Replaced whole when the signing-key Secret changes (parsing is slow: never per request)."""

    def __init__(self) -> None:
        self.keys: list[SigningKey] = []  # newest first
        self.by_kid: dict[str, SigningKey] = {}

    def set(self, keys: list[SigningKey]) -> None:
        self.keys = keys
        self.by_kid = {k.kid: k for k in keys}

    @property
    def signing(self) -> SigningKey | None:
        return self.keys[0] if self.keys else None
