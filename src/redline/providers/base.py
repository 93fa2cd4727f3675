"""A provider: one model API behind one wire format.

A :class:`Provider` turns a :class:`~redline.chat.ChatRequest` into a call to its API and the answer
back into a :class:`~redline.chat.ChatResponse` (``complete``) or a stream of
:class:`~redline.chat.Delta` (``stream``). It knows nothing of contracts, tenants or routes.

Failures are raised as :class:`UpstreamError`. ``retryable`` says whether another try — here or at the
next provider of the route — could succeed: connection errors, timeouts, 429 and 5xx are retryable; any
other 4xx is the request's own fault and goes back to the client as it is. A stream that fails before
its first delta raises from the first ``__anext__``, so the router can still fail over; once a delta
has been yielded the stream belongs to that provider.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any

import httpx

from redline.chat import ChatRequest, ChatResponse, Delta
from redline.config import ProviderConfig


class UpstreamError(Exception):
    def __init__(
        self, provider: str, message: str, *, status: int | None = None, retryable: bool = True
    ) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider, self.status, self.retryable = provider, status, retryable


class Provider(ABC):
    type: str

    def __init__(self, config: ProviderConfig, client: httpx.AsyncClient, api_key: str | None) -> None:
        self.config = config
        self.name = config.name
        self.client = client
        self.api_key = api_key

    @abstractmethod
    async def complete(self, request: ChatRequest) -> ChatResponse: ...

    @abstractmethod
    def stream(self, request: ChatRequest) -> AsyncIterator[Delta]: ...

    async def _post(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        try:
            response = await self.client.post(url, json=body, headers=headers, timeout=self.config.timeout)
        except httpx.TimeoutException:
            raise UpstreamError(self.name, "timed out") from None
        except httpx.HTTPError as exc:
            raise UpstreamError(self.name, f"connection failed: {exc.__class__.__name__}") from None
        self._raise_for_status(response.status_code, response.content)
        try:
            return response.json()
        except json.JSONDecodeError:
            raise UpstreamError(self.name, "answered with something that is not JSON") from None

    async def _sse(
        self, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> AsyncIterator[tuple[str, str]]:
        """POST and yield (event name, data) pairs of a server-sent-event stream."""
        try:
            async with self.client.stream(
                "POST", url, json=body, headers=headers, timeout=self.config.timeout
            ) as response:
                if response.status_code >= 400:
                    self._raise_for_status(response.status_code, await response.aread())
                event, data = "", list[str]()
                async for line in response.aiter_lines():
                    if not line:
                        if data:
                            yield event, "\n".join(data)
                        event, data = "", list[str]()
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].lstrip())
                if data:
                    yield event, "\n".join(data)
        except httpx.TimeoutException:
            raise UpstreamError(self.name, "timed out") from None
        except httpx.HTTPError as exc:
            raise UpstreamError(self.name, f"connection failed: {exc.__class__.__name__}") from None

    def _raise_for_status(self, status: int, content: bytes) -> None:
        if status < 400:
            return
        detail = content[:300].decode("utf-8", "replace")
        retryable = status == 429 or status >= 500
        raise UpstreamError(self.name, f"HTTP {status}: {detail}", status=status, retryable=retryable)


__all__ = ["Provider", "UpstreamError"]
