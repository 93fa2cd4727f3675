"""Anthropic's Messages API (``POST {base_url}/v1/messages``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from redline.chat import ChatRequest, ChatResponse, Delta
from redline.formats import anthropic as wire
from redline.providers.base import Provider, UpstreamError

API_VERSION = "2023-06-01"


class AnthropicProvider(Provider):
    type = "anthropic"

    def _headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return headers

    async def complete(self, request: ChatRequest) -> ChatResponse:
        url = f"{self.config.url}/v1/messages"
        return await self._complete(
            url, wire.request_body(request, stream=False), self._headers(), wire.parse_response
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        parser = wire.StreamParser()
        url = f"{self.config.url}/v1/messages"
        async for _, data in self._sse(url, wire.request_body(request, stream=True), self._headers()):
            try:
                event = json.loads(data)
                deltas = parser.feed(event)
            except (json.JSONDecodeError, ValueError) as exc:
                raise UpstreamError(self.name, f"stream error: {exc}") from None
            for delta in deltas:
                yield delta
            if event.get("type") == "message_stop":
                return


__all__ = ["AnthropicProvider"]
