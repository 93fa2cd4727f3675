"""Provider adapters, one per wire format, and the registry that maps a configured type to its class."""

from __future__ import annotations

from redline.config import ProviderConfig
from redline.providers.anthropic import AnthropicProvider
from redline.providers.base import HttpClient, Provider, UpstreamError
from redline.providers.gemini import GeminiProvider
from redline.providers.openai import OpenAIProvider

REGISTRY: dict[str, type[Provider]] = {
    cls.type: cls for cls in (OpenAIProvider, AnthropicProvider, GeminiProvider)
}


def build(config: ProviderConfig, http: HttpClient, api_key: str | None) -> Provider:
    return REGISTRY[config.type](config, http, api_key)


__all__ = ["REGISTRY", "HttpClient", "Provider", "UpstreamError", "build"]
