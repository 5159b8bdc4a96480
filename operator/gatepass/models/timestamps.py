"""The one type of every time gatepass reads from an object (status, conditions).

Status is a tenant's input too (status RBAC is often granted with ``*``): a value that is
valid RFC 3339 may still lie past year 9999 once moved to UTC, or have no offset. Such a
value fails validation here, where the object is read, so it costs that object only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator

from gatepass.contract import to_utc

# Aware, in UTC, within contract.FIRST_YEAR..LAST_YEAR.
Timestamp = Annotated[datetime, AfterValidator(to_utc)]
