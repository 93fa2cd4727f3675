from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from redline.chat import ChatRequest, ChatResponse, Delta, Message
from redline.config import BreakerConfig, ProviderConfig
from redline.errors import ProviderError, RequestError
from redline.providers import HttpClient, Provider, UpstreamError
from redline.routing import Route, Router

REQUEST = ChatRequest(model="m", messages=(Message(role="user", content="hi"),))


class Scripted(Provider):
    """A provider that fails the first ``failures`` calls with ``status`` (None: connection error)."""

    type = "openai"

    def __init__(self, name: str, failures: int = 0, status: int | None = 503) -> None:
        super().__init__(ProviderConfig(name=name, type="openai"), HttpClient(), None)
        self.failures, self.status, self.calls = failures, status, 0

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            retryable = self.status is None or self.status == 429 or self.status >= 500
            raise UpstreamError(self.name, f"HTTP {self.status}", status=self.status, retryable=retryable)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self._maybe_fail()
        return ChatResponse(id="r", model=request.model, content=f"from {self.name}")

    async def stream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        self._maybe_fail()
        yield Delta(content=f"from {self.name}")
        yield Delta(finish_reason="stop")


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_retry_then_failover_in_route_order() -> None:
    flaky, steady = Scripted("flaky", failures=1), Scripted("steady")
    router = Router(retries=1, breaker=BreakerConfig(failures=5, cooldown=30))
    served = run(router.complete(Route("m", (flaky, steady)), REQUEST))
    assert served.provider == "flaky" and flaky.calls == 2 and steady.calls == 0  # the retry succeeded
    down = Scripted("down", failures=99)
    served = run(router.complete(Route("m", (down, steady)), REQUEST))
    assert served.provider == "steady" and down.calls == 2
    assert len(served.attempts) == 2 and all("down" in a for a in served.attempts)


def test_circuit_breaker_skips_a_failing_provider_until_cooldown() -> None:
    down, steady = Scripted("down", failures=99), Scripted("steady")
    router = Router(retries=0, breaker=BreakerConfig(failures=3, cooldown=60))
    route = Route("m", (down, steady))
    for _ in range(3):
        run(router.complete(route, REQUEST))
    assert down.calls == 3
    served = run(router.complete(route, REQUEST))
    assert down.calls == 3  # open: not tried
    assert "circuit open" in served.attempts[0]
    router.breaker("down").opened_at = -1e9  # cooldown over: half-open, one try
    run(router.complete(route, REQUEST))
    assert down.calls == 4


def test_a_4xx_is_the_requests_fault_and_is_not_retried_elsewhere() -> None:
    bad, steady = Scripted("bad", failures=1, status=400), Scripted("steady")
    router = Router(retries=2, breaker=BreakerConfig())
    with pytest.raises(RequestError) as info:
        run(router.complete(Route("m", (bad, steady)), REQUEST))
    assert info.value.status == 400 and steady.calls == 0 and bad.calls == 1
    assert not isinstance(info.value, ProviderError)


def test_all_down_is_a_provider_error_and_streams_fail_over_before_the_first_delta() -> None:
    router = Router(retries=0, breaker=BreakerConfig())
    with pytest.raises(ProviderError) as info:
        run(router.complete(Route("m", (Scripted("a", 9), Scripted("b", 9, None))), REQUEST))
    assert info.value.status == 502 and len(info.value.attempts) == 2
    served = run(router.stream(Route("m", (Scripted("a", 1), Scripted("b"))), REQUEST))
    assert served.provider == "b" and served.first.content == "from b"
