"""OpenAI-compatible providers: OpenAI, xAI, vLLM, Ollama, LM Studio and anything else that serves
``POST {base_url}/chat/completions``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from redline.chat import ChatRequest, ChatResponse, Delta
from redline.formats import openai as wire
from redline.providers.base import Provider, UpstreamError


class OpenAIProvider(Provider):
    type = "openai"

    def _headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    async def complete(self, request: ChatRequest) -> ChatResponse:
        url = f"{self.config.url}/chat/completions"
        return await self._complete(
            url, wire.request_body(request, stream=False), self._headers(), wire.parse_response
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        url = f"{self.config.url}/chat/completions"
        async for _, data in self._sse(url, wire.request_body(request, stream=True), self._headers()):
            if data == "[DONE]":
                return
            try:
                chunk = json.loads(data)
            except json.JSONDecodeError:
                raise UpstreamError(self.name, "sent a stream chunk that is not JSON") from None
            if "error" in chunk:
                raise UpstreamError(self.name, f"stream error: {chunk['error']}")
            for delta in wire.parse_chunk(chunk):
                yield delta


__all__ = ["OpenAIProvider"]
