"""Routes: for a model, the ordered providers that may serve it, with failover, retries, a circuit
breaker per provider, and an optional shadow provider that gets a copy of the traffic.

A provider is tried up to ``1 + retries`` times (backing off 50 ms, 100 ms …) while its failures are
retryable (connection errors, timeouts, 429, 5xx; see :mod:`redline.providers.base`); then the next
provider of the route is tried. A provider that fails ``breaker.failures`` times in a row is skipped for
``breaker.cooldown`` seconds; after that one request may try it again (half-open). A stream fails over
only until its first delta: after that the client has seen bytes from that provider.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from redline.chat import ChatRequest, ChatResponse, Delta
from redline.config import BreakerConfig
from redline.errors import ProviderError, RequestError
from redline.providers import Provider, UpstreamError

T = TypeVar("T")
BACKOFF = 0.05


@dataclass
class Breaker:
    config: BreakerConfig
    failures: int = 0
    opened_at: float | None = None

    def available(self, now: float) -> bool:
        return self.opened_at is None or now - self.opened_at >= self.config.cooldown

    def succeeded(self) -> None:
        self.failures, self.opened_at = 0, None

    def failed(self, now: float) -> None:
        self.failures += 1
        if self.failures >= self.config.failures:
            self.opened_at = now


@dataclass(frozen=True)
class Route:
    model: str
    providers: tuple[Provider, ...]
    shadow: Provider | None = None


@dataclass(frozen=True, slots=True)
class Served:
    """An answer and who gave it."""

    provider: str
    response: ChatResponse
    attempts: tuple[str, ...]


@dataclass
class StreamServed:
    provider: str
    first: Delta
    rest: AsyncIterator[Delta]
    attempts: tuple[str, ...] = field(default_factory=tuple)


class Router:
    def __init__(self, retries: int, breaker: BreakerConfig) -> None:
        self.retries = retries
        self.breaker_config = breaker
        self._breakers: dict[str, Breaker] = {}
        self._shadow_tasks: set[asyncio.Task[None]] = set()

    def breaker(self, provider: str) -> Breaker:
        return self._breakers.setdefault(provider, Breaker(self.breaker_config))

    async def complete(self, route: Route, request: ChatRequest) -> Served:
        async def call(provider: Provider) -> ChatResponse:
            return await provider.complete(request)

        provider, response, attempts = await self._failover(route, call)
        return Served(provider, response, attempts)

    async def stream(self, route: Route, request: ChatRequest) -> StreamServed:
        async def first_delta(provider: Provider) -> tuple[Delta, AsyncIterator[Delta]]:
            iterator = aiter(provider.stream(request))
            try:
                first = await anext(iterator)
            except StopAsyncIteration:
                first = Delta(finish_reason="stop")
            return first, iterator

        provider, (first, rest), attempts = await self._failover(route, first_delta)
        return StreamServed(provider, first, rest, attempts)

    async def _failover(
        self, route: Route, call: Callable[[Provider], Awaitable[T]]
    ) -> tuple[str, T, tuple[str, ...]]:
        attempts: list[str] = []
        for provider in route.providers:
            breaker = self.breaker(provider.name)
            if not breaker.available(time.monotonic()):
                attempts.append(f"{provider.name}: circuit open")
                continue
            for attempt in range(1 + self.retries):
                if attempt:
                    await asyncio.sleep(BACKOFF * 2 ** (attempt - 1))
                try:
                    result = await call(provider)
                except UpstreamError as exc:
                    attempts.append(str(exc))
                    if not exc.retryable:
                        # The request's own fault: another provider would refuse it too.
                        raise RequestError(exc.status or 400, "provider_rejected", str(exc)) from None
                    breaker.failed(time.monotonic())
                    if not breaker.available(time.monotonic()):
                        break
                    continue
                breaker.succeeded()
                return provider.name, result, tuple(attempts)
        timed_out = bool(attempts) and all("timed out" in a for a in attempts)
        raise ProviderError(
            f"no provider could serve model {route.model!r}: " + "; ".join(attempts or ["none configured"]),
            status=504 if timed_out else 502,
            attempts=tuple(attempts),
        )

    def shadow(
        self, route: Route, request: ChatRequest, compare: Callable[[str, ChatResponse], None]
    ) -> None:
        """Send a copy to the route's shadow provider in the background; the client never waits."""
        if route.shadow is None:
            return
        shadow = route.shadow

        async def run() -> None:
            try:
                response = await shadow.complete(replace(request, stream=False))
            except UpstreamError:
                compare(
                    shadow.name, ChatResponse(id="", model=request.model, content="", finish_reason="stop")
                )
                return
            compare(shadow.name, response)

        task = asyncio.get_running_loop().create_task(run())
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)

    async def drain(self) -> None:
        if self._shadow_tasks:
            await asyncio.gather(*self._shadow_tasks, return_exceptions=True)


__all__ = ["Breaker", "Route", "Router", "Served", "StreamServed"]
