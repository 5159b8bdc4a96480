"""Runtime settings from the environment (``GATEPASS_*``), validated at start."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEPASS_")

    # Empty = every namespace. Comma-separated in the environment.
    namespaces: Annotated[list[str], NoDecode] = Field(default_factory=list)
    metrics_port: int = Field(9090, ge=0, le=65535, description="Prometheus /metrics; 0 turns it off")
    health_port: int = Field(8080, ge=0, le=65535, description="kopf liveness /healthz; 0 turns it off")
    bind_address: str = "0.0.0.0"  # noqa: S104 - in a pod the probes come from the kubelet
    peering: str = Field("gatepass", description="kopf peering name: one active operator per name")
    standalone: bool = Field(False, description="skip peering (a single replica, or local runs)")
    workers: int = Field(4, ge=1, le=64, description="reconciles running at once")
    log_level: str = "INFO"

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [n.strip() for n in value.split(",") if n.strip()]
        return value
