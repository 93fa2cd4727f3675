"""Provider adapters, one per wire format, and the registry that maps a configured type to its class."""

from __future__ import annotations

import httpx

from redline.config import ProviderConfig
from redline.providers.anthropic import AnthropicProvider
from redline.providers.base import Provider, UpstreamError
from redline.providers.gemini import GeminiProvider
from redline.providers.openai import OpenAIProvider

REGISTRY: dict[str, type[Provider]] = {
    cls.type: cls for cls in (OpenAIProvider, AnthropicProvider, GeminiProvider)
}


def build(config: ProviderConfig, client: httpx.AsyncClient, api_key: str | None) -> Provider:
    return REGISTRY[config.type](config, client, api_key)


__all__ = ["REGISTRY", "Provider", "UpstreamError", "build"]
