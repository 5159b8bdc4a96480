"""The one shape of a check: a function of :class:`Input` that answers or passes.

A chain is an ordered tuple of named checks; the first that answers decides (as in
cert-manager's certificate policy chains), and the names say in tests and reviews
which rule answered.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from gatepass.decisions.token.inputs import SecretView, TokenView
from gatepass.models.servicetoken import ServiceTokenStatus


class Action(enum.Enum):
    NONE = "None"
    ISSUE = "Issue"  # first credentials
    REISSUE = "Reissue"  # Secret lost or tampered: new secret, same Client ID
    ROTATE = "Rotate"  # asked for: new secret, previous one kept for the grace period
    FINALIZE = "Finalize"  # the Secret already holds the pending secret
    CONFLICT = "Conflict"  # a Secret of that name belongs to someone else: touch nothing

    @property
    def generates(self) -> bool:
        return self in (Action.ISSUE, Action.REISSUE, Action.ROTATE)


@dataclass(frozen=True)
class Input:
    """What every check reads."""

    token: TokenView
    secret: SecretView
    now: datetime
    # The status decided so far, and the credential action: credential checks run before
    # either is decided and see the status as read.
    status: ServiceTokenStatus
    action: Action = Action.NONE


A = TypeVar("A")
Check = Callable[[Input], A | None]
Chain = Sequence[tuple[str, Check[A]]]


def first(chain: Chain[A], facts: Input) -> A | None:
    """The answer of the first check of ``chain`` that answers."""
    for _, check in chain:
        answer = check(facts)
        if answer is not None:
            return answer
    return None
