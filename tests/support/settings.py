"""Settings as a pod reads them: from exactly the environment its Deployment gives it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeVar

import pytest
from pydantic_settings import BaseSettings

S = TypeVar("S", bound=BaseSettings)


def container_env(deployment: Mapping[str, Any]) -> dict[str, str]:
    """The literal env of a Deployment's one container (fieldRefs left out)."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def read_from(cls: type[S], env: Mapping[str, str]) -> S:
    """``cls()`` with ``env`` as the only GATEPASS_* variables, as in the pod."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.upper().startswith("GATEPASS_"):
                mp.delenv(name)
        for name, value in env.items():
            mp.setenv(name, value)
        return cls()
