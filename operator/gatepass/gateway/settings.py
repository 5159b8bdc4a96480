"""Gateway settings from the environment (``GATEPASS_*``), validated at start.

The fields are gatewayconfig.GatewayConfig's: the operator writes the same model into
the gateway Deployment it runs."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from gatepass.gatewayconfig import ENV_PREFIX, GatewayConfig


class GatewaySettings(GatewayConfig, BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")
