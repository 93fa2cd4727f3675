"""The gateway: an ASGI app that speaks the OpenAI and Anthropic APIs and enforces each tenant's
contract on every request and every answer, recording each decision in the ledger first.

The app only wires stages together (see DESIGN.md): authenticate → parse (``formats``) → screen
(``screen``) → record (``ledger``) → route (``routing``, ``providers``) → screen the answer (``streaming``
for streams) → record → answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route as HttpRoute

from redline.chat import ChatRequest, ChatResponse, Delta, ToolCall
from redline.config import Settings, Tenant
from redline.contract import ALLOWED, Contract
from redline.encoder import CachedEncoder, Encoder, UseEncoder
from redline.errors import ProviderError, RequestError
from redline.events import AnswerScreened, ProviderFailed, RequestScreened
from redline.formats.anthropic import AnthropicFormat
from redline.formats.base import Format, StreamWriter
from redline.formats.openai import OpenAIFormat
from redline.heads import Heads
from redline.ledger import Ledger, Record
from redline.openapi import openapi_document
from redline.providers import HttpClient, Provider, build
from redline.routing import Route, Router
from redline.screen import Screen, Verdict, shipped_background, shipped_heads
from redline.streaming import StreamGuard

log = logging.getLogger("redline.gateway")

MAX_BODY = 4 * 1024 * 1024
MAX_CACHED_ROUTES = 4096
_SEVERITY = {"allow": 0, "flag": 1, "hold": 2, "block": 3}
INLINE_SCREEN_CHARS = 4_000  # longer requests are screened off the event loop


@dataclass(frozen=True, slots=True)
class Judgement:
    """The verdicts on all of a request's (or an answer's) texts, folded into one decision."""

    decision: str
    action: str
    scores: dict[str, float]
    language: str
    disguises: tuple[str, ...]

    @classmethod
    def of(cls, verdicts: list[Verdict], contract: Contract) -> Judgement:
        scores = dict.fromkeys(contract.clause_ids, 0.0)
        for v in verdicts:
            for clause, score in v.scores.items():
                scores[clause] = max(scores[clause], score)
        crossed = [v for v in verdicts if v.decision != ALLOWED]
        decision = max(crossed, key=lambda v: v.scores[v.decision]).decision if crossed else ALLOWED
        action = max((v.action for v in verdicts), key=_SEVERITY.__getitem__, default="allow")
        languages = [v.language.code for v in verdicts if v.language.code != "und"]
        disguises = tuple(dict.fromkeys(d for v in verdicts for d in v.disguises))
        return cls(decision, action, scores, languages[0] if languages else "und", disguises)

    def held(self) -> Judgement:
        """The same judgement, for an answer whose lethal tool call waits for a human decision."""
        return Judgement("RL-AUTO", "hold", self.scores, self.language, self.disguises)

    @property
    def refused(self) -> bool:
        return self.action in ("block", "hold")


@dataclass(frozen=True, slots=True)
class _Exchange:
    """One request on its way through: who asked, under which screen, in which format, to which route,
    and the (possibly still pending) ledger record of its screening."""

    tenant: Tenant
    screen: Screen
    fmt: Format
    route: Route
    chat: ChatRequest
    request_hash: str
    request_record: Future[Record]


class TokenBucket:
    def __init__(self, rate: float) -> None:
        self.rate, self.capacity = rate, 2 * rate
        self.tokens, self.updated = self.capacity, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "redline_requests", "Requests screened", ["tenant", "endpoint", "decision"], registry=r
        )
        self.answers = Counter(
            "redline_answers", "Answers screened", ["tenant", "decision", "streamed"], registry=r
        )
        self.provider_errors = Counter(
            "redline_provider_errors", "Failed provider attempts", ["provider"], registry=r
        )
        self.shadow = Counter(
            "redline_shadow_comparisons", "Shadow answers compared", ["provider", "outcome"], registry=r
        )
        self.screen_seconds = Histogram(
            "redline_screen_seconds",
            "Time spent screening one request or answer",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5),
            registry=r,
        )
        self.upstream_seconds = Histogram(
            "redline_upstream_seconds", "Provider latency", ["provider"], registry=r
        )


class Gateway:
    def __init__(
        self,
        settings: Settings,
        *,
        heads: Heads | None = None,
        ledger: Ledger | None = None,
        http: HttpClient | None = None,
    ) -> None:
        self.settings = settings
        encoder: Encoder = (
            CachedEncoder(UseEncoder(), size=settings.screen_cache) if settings.screen_cache else UseEncoder()
        )
        heads = heads or shipped_heads()
        background = shipped_background()
        by_contract: dict[str, Screen] = {}
        self._screens: dict[str, Screen] = {}  # by tenant name; tenants with one contract share a screen
        for tenant in settings.tenants:
            key = tenant.contract.hash
            if key not in by_contract:
                by_contract[key] = Screen(tenant.contract, encoder, heads, background=background)
            self._screens[tenant.name] = by_contract[key]
        self.ledger = ledger or Ledger(settings.ledger)
        self.http = http or HttpClient()
        self.providers: dict[str, Provider] = {
            p.name: build(p, self.http, p.key(settings.env)) for p in settings.providers
        }
        self.router = Router(settings.retries, settings.breaker)
        self._routes: dict[str, Route] = {}
        self._buckets = {t.name: TokenBucket(t.rate_limit) for t in settings.tenants}
        self.metrics = Metrics()
        self.formats: dict[str, Format] = {"openai": OpenAIFormat(), "anthropic": AnthropicFormat()}

    # -- stages -----------------------------------------------------------------------------------

    def screen_for(self, tenant: Tenant) -> Screen:
        return self._screens[tenant.name]

    def authenticate(self, request: Request) -> Tenant:
        auth = request.headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
        if not key:
            raise RequestError(
                401, "missing_api_key", "no API key: send 'Authorization: Bearer KEY' or 'x-api-key: KEY'"
            )
        tenant = self.settings.tenant_for_key(key)
        if tenant is None:
            raise RequestError(401, "invalid_api_key", "the API key is not valid")
        if not self._buckets[tenant.name].take():
            raise RequestError(
                429,
                "rate_limited",
                f"tenant {tenant.name} is over its rate limit ({tenant.rate_limit:g} requests per second)",
            )
        return tenant

    def route(self, model: str) -> Route:
        route = self._routes.get(model)
        if route is None:
            config = self.settings.route(model)
            if config is not None:
                route = Route(
                    model=model,
                    providers=tuple(self.providers[name] for name in config.providers),
                    shadow=self.providers[config.shadow] if config.shadow else None,
                )
                if len(self._routes) >= MAX_CACHED_ROUTES:  # model names come from clients: stay bounded
                    self._routes.clear()
                self._routes[model] = route
        if route is None:
            raise RequestError(
                404,
                "model_not_found",
                f"no provider serves model {model!r}: set OPENAI_API_KEY or OPENAI_BASE_URL (or ANTHROPIC_*, "
                "GEMINI_*), or add a route to the config file",
            )
        return route

    async def judge(self, screen: Screen, texts: list[str]) -> tuple[Judgement, list[Verdict]]:
        # A text longer than the screen takes is screened in consecutive pieces, not refused.
        size = screen.max_chars
        texts = [t[i : i + size] for t in texts for i in range(0, len(t), size) if t[i : i + size].strip()]
        if not texts:
            return Judgement.of([], screen.contract), []
        started = time.perf_counter()
        if sum(len(t) for t in texts) > INLINE_SCREEN_CHARS:
            verdicts = await asyncio.to_thread(screen.check_many, texts)
        else:
            verdicts = screen.check_many(texts)
        self.metrics.screen_seconds.observe(time.perf_counter() - started)
        return Judgement.of(verdicts, screen.contract), verdicts

    def lethal(self, contract: Contract, calls: Iterable[ToolCall]) -> list[str]:
        return [
            c.name
            for c in calls
            if any(fnmatch.fnmatchcase(c.name, pattern) for pattern in contract.lethal_tools)
        ]

    # -- one exchange -----------------------------------------------------------------------------

    async def chat(self, request: Request, fmt: Format, endpoint: str) -> Response:
        tenant = self.authenticate(request)
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise RequestError(
                413, "request_too_large", f"the body has {len(raw):,} bytes; the limit is {MAX_BODY:,}"
            )
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise RequestError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
        chat = fmt.parse(body)
        screen = self.screen_for(tenant)
        request_hash = "sha256:" + hashlib.sha256(raw).hexdigest()
        texts = list(chat.texts())
        judgement, _ = await self.judge(screen, texts)
        self.metrics.requests.labels(tenant.name, endpoint, judgement.decision).inc()
        # The request's record is written while the provider works; every answer below waits for it.
        pending = self.ledger.append(
            RequestScreened(
                tenant=tenant.name,
                request_hash=request_hash,
                contract=screen.contract_hash,
                decision=judgement.decision,
                action=judgement.action,
                scores=_rounded(judgement.scores),
                model=chat.model,
                endpoint=endpoint,
                language=judgement.language,
                disguises=judgement.disguises,
                texts=tuple(texts) if tenant.store_texts else None,
            )
        )
        if judgement.refused:
            raise _refusal(judgement, (await asyncio.wrap_future(pending)).id, "request")
        try:
            route = self.route(chat.model)
            exchange = _Exchange(tenant, screen, fmt, route, chat, request_hash, pending)
            return await (self._stream(exchange) if chat.stream else self._complete(exchange))
        except ProviderError as exc:
            failed = await self.ledger.record(
                ProviderFailed(
                    tenant=tenant.name,
                    request_hash=request_hash,
                    contract=screen.contract_hash,
                    model=chat.model,
                    attempts=exc.attempts,
                    status=exc.status,
                )
            )
            exc.extra["record"] = failed.id
            raise
        except RequestError:
            await asyncio.wrap_future(pending)
            raise

    async def _complete(self, x: _Exchange) -> Response:
        screen, fmt, route, chat = x.screen, x.fmt, x.route, x.chat
        started = time.perf_counter()
        served = await self.router.complete(route, chat)
        self.metrics.upstream_seconds.labels(served.provider).observe(time.perf_counter() - started)
        self._count_failures(served.attempts)
        answer = served.response
        judgement, _ = await self.judge(screen, list(answer.texts()))
        held = self.lethal(screen.contract, answer.tool_calls)
        if held and not judgement.refused:
            judgement = judgement.held()
        record = await self.record_answer(
            x, judgement, served.provider, tuple(c.name for c in answer.tool_calls), tuple(answer.texts())
        )
        self._shadow(route, chat, screen, answer)
        if judgement.refused:
            raise _refusal(judgement, record, "answer", held=held)
        return JSONResponse(
            fmt.render(answer, chat.model),
            headers={
                "x-redline-record": str(record),
                "x-redline-request-record": str((await asyncio.wrap_future(x.request_record)).id),
                "x-redline-provider": served.provider,
            },
        )

    async def record_answer(
        self,
        x: _Exchange,
        judgement: Judgement,
        provider: str,
        tool_calls: tuple[str, ...],
        texts: tuple[str, ...] = (),
        *,
        streamed: bool = False,
    ) -> int:
        """Count and durably record the screening of an answer; returns the record id."""
        self.metrics.answers.labels(x.tenant.name, judgement.decision, str(streamed).lower()).inc()
        record = await self.ledger.record(
            AnswerScreened(
                tenant=x.tenant.name,
                request_hash=x.request_hash,
                contract=x.screen.contract_hash,
                decision=judgement.decision,
                action=judgement.action,
                scores=_rounded(judgement.scores),
                model=x.chat.model,
                provider=provider,
                streamed=streamed,
                tool_calls=tool_calls,
                texts=texts if x.tenant.store_texts else None,
            )
        )
        return record.id

    async def _stream(self, x: _Exchange) -> Response:
        fmt, route, chat = x.fmt, x.route, x.chat
        served = await self.router.stream(route, chat)
        request_id = (await asyncio.wrap_future(x.request_record)).id
        self._count_failures(served.attempts)
        stream_id = ("msg_" if fmt.name == "anthropic" else "chatcmpl-") + secrets.token_hex(12)
        relay = _Relay(self, x, fmt.stream(stream_id, chat.model), served.provider)
        return StreamingResponse(
            relay.run(_chain(served.first, served.rest)),
            media_type="text/event-stream",
            headers={
                "x-redline-record": str(request_id),
                "x-redline-provider": served.provider,
                "cache-control": "no-cache",
            },
        )

    def _count_failures(self, attempts: tuple[str, ...]) -> None:
        for attempt in attempts:
            self.metrics.provider_errors.labels(attempt.split(":", 1)[0]).inc()

    def _shadow(self, route: Route, chat: ChatRequest, screen: Screen, primary: ChatResponse) -> None:
        if route.shadow is None:
            return
        primary_decision = screen.check_many(list(primary.texts()) or ["."])

        def compare(provider: str, shadow: ChatResponse) -> None:
            if not shadow.content and not shadow.tool_calls:
                self.metrics.shadow.labels(provider, "failed").inc()
                return
            verdicts = screen.check_many(list(shadow.texts()))
            same = (
                Judgement.of(verdicts, screen.contract).decision
                == Judgement.of(primary_decision, screen.contract).decision
            )
            self.metrics.shadow.labels(provider, "same-decision" if same else "different-decision").inc()
            log.info(
                "shadow %s for %s: %s decision, %d vs %d chars",
                provider,
                chat.model,
                "same" if same else "different",
                len(shadow.content),
                len(primary.content),
            )

        self.router.shadow(route, chat, compare)

    # -- the screen alone -------------------------------------------------------------------------

    async def check(self, request: Request) -> Response:
        tenant = self.authenticate(request)
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise RequestError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise RequestError(400, "invalid_request_error", 'expected {"text": "..."} or {"texts": [...]}')
        texts = body.get("texts", [body.get("text")] if "text" in body else None)
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise RequestError(
                400, "invalid_request_error", 'expected {"text": "..."} or {"texts": ["...", ...]}'
            )
        screen = self.screen_for(tenant)
        for i, text in enumerate(texts):
            try:
                screen.validate(text, i)
            except Exception as exc:
                raise RequestError(400, "invalid_text", str(exc)) from None
        verdicts = await asyncio.to_thread(screen.check_many, texts)
        return JSONResponse({"verdicts": [v.to_dict() for v in verdicts], "contract": screen.contract_hash})

    async def close(self) -> None:
        await self.router.drain()
        await self.http.close()
        self.ledger.close()


@dataclass
class _Relay:
    """Forwards one provider stream to the client through the screen: text as it passes, tool calls
    whole once screened, and an error event in place of the first piece that crosses a line."""

    gateway: Gateway
    exchange: _Exchange
    writer: StreamWriter
    provider: str

    async def record(self, judgement: Judgement, guard: StreamGuard, calls: tuple[ToolCall, ...] = ()) -> int:
        """Record the answer as far as it came: its text and its tool calls, as a plain answer's are."""
        text = guard.text
        texts = ((text,) if text.strip() else ()) + tuple(c.text for c in calls)
        names = tuple(c.name for c in calls)
        return await self.gateway.record_answer(
            self.exchange, judgement, self.provider, names, texts, streamed=True
        )

    async def refuse(
        self, judgement: Judgement, message: str, guard: StreamGuard, calls: tuple[ToolCall, ...] = ()
    ) -> bytes:
        record = await self.record(judgement, guard, calls)
        return self.writer.error(
            403, judgement.decision, message, {"scores": _rounded(judgement.scores), "record": record}
        )

    async def run(self, upstream: AsyncIterator[Delta]) -> AsyncIterator[bytes]:
        screen = self.exchange.screen
        contract = screen.contract
        guard = StreamGuard(screen)
        calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]
        held: list[Delta] = []
        yield self.writer.start()
        try:
            async for delta in upstream:
                if delta.content:
                    released, crossed = guard.feed(delta.content)
                    if crossed is not None:
                        judgement = Judgement.of([crossed], contract)
                        yield await self.refuse(judgement, _cut_message(judgement), guard)
                        return
                    if released:
                        yield self.writer.delta(Delta(content=released))
                elif delta.tool_call is not None:
                    call = calls.setdefault(delta.tool_call.index, ["", "", ""])
                    call[0] = delta.tool_call.id or call[0]
                    call[1] = delta.tool_call.name or call[1]
                    call[2] += delta.tool_call.arguments
                    held.append(delta)
                else:
                    held.append(delta)
        except Exception as exc:  # the provider broke the stream after it had begun
            log.warning("stream from %s broke: %s", self.provider, exc)
            record = await self.record(Judgement.of(guard.verdicts, contract), guard)
            yield self.writer.error(
                502, "provider_stream_broken", f"the provider's stream broke: {exc}", {"record": record}
            )
            return
        released, crossed = guard.flush()
        tool_calls = tuple(ToolCall(c[0], c[1], c[2]) for c in calls.values())
        verdicts = list(guard.verdicts)
        if tool_calls:
            verdicts += screen.check_many([c.text for c in tool_calls])
        judgement = Judgement.of(verdicts, contract)
        lethal = self.gateway.lethal(contract, tool_calls)
        if lethal and not judgement.refused:
            judgement = judgement.held()
        if judgement.refused:
            yield await self.refuse(
                judgement, _held_message(lethal) if lethal else _cut_message(judgement), guard, tool_calls
            )
            return
        await self.record(judgement, guard, tool_calls)
        if released:
            yield self.writer.delta(Delta(content=released))
        for delta in held:
            yield self.writer.delta(delta)
        yield self.writer.end()


async def _chain(first: Delta, rest: AsyncIterator[Delta]) -> AsyncIterator[Delta]:
    yield first
    async for delta in rest:
        yield delta


def _rounded(scores: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in scores.items()}


def _cut_message(judgement: Judgement) -> str:
    return f"the answer crosses {judgement.decision} and was stopped by the contract"


def _held_message(tools: list[str]) -> str:
    return f"lethal tool call(s) {', '.join(tools)} held: a named human must approve each engagement"


def _refusal(judgement: Judgement, record: int, what: str, held: list[str] | None = None) -> RequestError:
    if held:
        message = _held_message(held)
    elif what == "request":
        message = f"the request crosses {judgement.decision} and was refused under the contract"
    else:
        message = f"the answer crosses {judgement.decision} and was withheld under the contract"
    if judgement.decision == ALLOWED:  # refused for another reason: an unsupported language under 'block'
        message = (
            f"the {what} is in a language the screen does not cover ({judgement.language}) and the "
            "contract blocks those"
        )
    return RequestError(
        403,
        judgement.decision if judgement.decision != ALLOWED else "unsupported_language",
        message,
        scores=_rounded(judgement.scores),
        record=record,
    )


def create_app(settings: Settings, **kwargs: Any) -> Starlette:
    gateway = Gateway(settings, **kwargs)
    openai_format, anthropic_format = gateway.formats["openai"], gateway.formats["anthropic"]

    def error_response(exc: RequestError, fmt: Format) -> JSONResponse:
        headers = {"x-redline-record": str(exc.extra["record"])} if "record" in exc.extra else {}
        return JSONResponse(
            fmt.error(exc.status, exc.code, exc.message, dict(exc.extra)), exc.status, headers=headers
        )

    def endpoint(fmt: Format, handler: Any) -> Any:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)  # type: ignore[no-any-return]
            except RequestError as exc:
                return error_response(exc, fmt)

        return run

    async def chat_completions(request: Request) -> Response:
        return await gateway.chat(request, openai_format, "chat.completions")

    async def messages(request: Request) -> Response:
        return await gateway.chat(request, anthropic_format, "messages")

    async def models(request: Request) -> Response:
        gateway.authenticate(request)
        data = [
            {"id": r.model, "object": "model", "owned_by": ",".join(r.providers), "created": 0}
            for r in settings.routes
        ]
        return JSONResponse({"object": "list", "data": data})

    async def healthz(request: Request) -> Response:
        return JSONResponse(
            {"status": "ok", "providers": sorted(gateway.providers), "ledger": settings.ledger}
        )

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(gateway.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await gateway.close()

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        detail = getattr(exc, "detail", "error")
        return JSONResponse(
            openai_format.error(status, "not_found" if status == 404 else "http_error", str(detail), {}),
            status,
        )

    app = Starlette(
        exception_handlers={404: http_error, 405: http_error},
        routes=[
            HttpRoute("/v1/chat/completions", endpoint(openai_format, chat_completions), methods=["POST"]),
            HttpRoute("/v1/messages", endpoint(anthropic_format, messages), methods=["POST"]),
            HttpRoute("/v1/models", endpoint(openai_format, models), methods=["GET"]),
            HttpRoute("/v1/redline/check", endpoint(openai_format, gateway.check), methods=["POST"]),
            HttpRoute("/healthz", healthz, methods=["GET"]),
            HttpRoute("/metrics", metrics, methods=["GET"]),
            HttpRoute("/openapi.json", openapi, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app


__all__ = ["Gateway", "Judgement", "create_app"]
