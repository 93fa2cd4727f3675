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
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp

from redline.chat import ChatRequest, ChatResponse, Delta
from redline.config import ProviderConfig


class UpstreamError(Exception):
    def __init__(
        self, provider: str, message: str, *, status: int | None = None, retryable: bool = True
    ) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider, self.status, self.retryable = provider, status, retryable


class HttpClient:
    """One pooled HTTP client for every provider, opened on first use inside the running event loop."""

    def __init__(self, *, connections: int = 512) -> None:
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.connections, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class Provider(ABC):
    type: str

    def __init__(self, config: ProviderConfig, http: HttpClient, api_key: str | None) -> None:
        self.config = config
        self.name = config.name
        self.http = http
        self.api_key = api_key

    @abstractmethod
    async def complete(self, request: ChatRequest) -> ChatResponse: ...

    @abstractmethod
    def stream(self, request: ChatRequest) -> AsyncIterator[Delta]: ...

    async def _complete(
        self, url: str, body: dict[str, Any], headers: dict[str, str], parse: Callable[[Any], ChatResponse]
    ) -> ChatResponse:
        """POST a whole (non-streamed) request and parse the answer; a malformed answer is the
        provider's failure, not the client's."""
        answer = await self._post(url, body, headers)
        try:
            return parse(answer)
        except Exception as exc:
            raise UpstreamError(self.name, f"malformed answer: {exc}") from None

    async def _post(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        timeout = aiohttp.ClientTimeout(total=self.config.timeout)
        try:
            async with self.http.session().post(
                url, data=_json(body), headers={**headers, **_JSON_HEADERS}, timeout=timeout
            ) as response:
                content = await response.read()
                status = response.status
        except TimeoutError:
            raise UpstreamError(self.name, "timed out") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(self.name, f"connection failed: {exc.__class__.__name__}") from None
        self._raise_for_status(status, content)
        try:
            return json.loads(content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise UpstreamError(self.name, "answered with something that is not JSON") from None

    async def _sse(
        self, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> AsyncIterator[tuple[str, str]]:
        """POST and yield (event name, data) pairs of a server-sent-event stream."""
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.config.timeout, sock_read=self.config.timeout
        )
        try:
            async with self.http.session().post(
                url, data=_json(body), headers={**headers, **_JSON_HEADERS}, timeout=timeout
            ) as response:
                if response.status >= 400:
                    self._raise_for_status(response.status, await response.read())
                event, data = "", list[str]()
                async for raw in response.content:
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
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
        except TimeoutError:
            raise UpstreamError(self.name, "timed out") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(self.name, f"connection failed: {exc.__class__.__name__}") from None

    def _raise_for_status(self, status: int, content: bytes) -> None:
        if status < 400:
            return
        detail = content[:300].decode("utf-8", "replace")
        retryable = status == 429 or status >= 500
        raise UpstreamError(self.name, f"HTTP {status}: {detail}", status=status, retryable=retryable)


_JSON_HEADERS = {"content-type": "application/json"}


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


__all__ = ["HttpClient", "Provider", "UpstreamError"]
