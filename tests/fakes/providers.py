"""Local stand-ins for model providers, speaking each wire format on loopback.

A fake answers from a script in the last user message, so a test says what the "model" will do:
``[[reply:TEXT]]`` answers TEXT (streamed in small pieces), ``[[tool:NAME:{json}]]`` calls a tool.
Anything else gets ``Hello from NAME.``. ``fail`` makes every call fail with that HTTP status, or with a
dropped connection (``fail=0``). Every request body received is kept in ``received``.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Script:
    text: str = ""
    tool: tuple[str, dict[str, Any]] | None = None


def script_of(last_user: str, name: str) -> Script:
    tool = re.search(r"\[\[tool:([\w.-]+):(\{.*?\})\]\]", last_user)
    if tool:
        return Script(tool=(tool.group(1), json.loads(tool.group(2))))
    reply = re.search(r"\[\[reply:(.*?)\]\]", last_user, re.S)
    return Script(text=reply.group(1) if reply else f"Hello from {name}.")


def pieces(text: str, size: int = 12) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


@dataclass
class FakeProvider:
    name: str
    fail: int | None = None
    delay: float = 0.0
    break_stream_after: int | None = None  # chunks sent before the connection is cut
    received: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self.openai, methods=["POST"]),
                Route("/v1/messages", self.anthropic, methods=["POST"]),
                Route("/v1beta/models/{model}:generateContent", self.gemini, methods=["POST"]),
                Route("/v1beta/models/{model}:streamGenerateContent", self.gemini_stream, methods=["POST"]),
            ]
        )

    async def _common(self, request: Request) -> dict[str, Any]:
        body = await request.json()
        self.received.append(body)
        if self.delay:
            await asyncio.sleep(self.delay)
        return body

    def _failure(self) -> Response | None:
        if self.fail is None:
            return None
        return JSONResponse(
            {"error": {"message": f"{self.name} is failing", "type": "server_error"}}, self.fail
        )

    # -- OpenAI -------------------------------------------------------------------------------------

    async def openai(self, request: Request) -> Response:
        body = await self._common(request)
        if failure := self._failure():
            return failure
        users = [m for m in body["messages"] if m["role"] == "user"]
        content = users[-1]["content"] if users else ""
        script = script_of(content if isinstance(content, str) else json.dumps(content), self.name)
        if body.get("stream"):
            return StreamingResponse(
                self._openai_stream(script, body["model"]), media_type="text/event-stream"
            )
        message: dict[str, Any] = {"role": "assistant", "content": script.text or None}
        finish = "stop"
        if script.tool:
            message["tool_calls"] = [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": script.tool[0], "arguments": json.dumps(script.tool[1])},
                }
            ]
            finish = "tool_calls"
        return JSONResponse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
            }
        )

    async def _openai_stream(self, script: Script, model: str) -> AsyncIterator[bytes]:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(data)}\n\n".encode()

        yield chunk({"role": "assistant", "content": ""})
        for n, piece in enumerate(pieces(script.text) if script.text else []):
            if self.break_stream_after is not None and n >= self.break_stream_after:
                raise ConnectionResetError("fake provider cut the stream")
            yield chunk({"content": piece})
        if script.tool:
            args = json.dumps(script.tool[1])
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": script.tool[0], "arguments": ""},
                        }
                    ]
                }
            )
            for piece in pieces(args, 8):
                yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        yield chunk({}, "tool_calls" if script.tool else "stop")
        yield b"data: [DONE]\n\n"

    # -- Anthropic ----------------------------------------------------------------------------------

    async def anthropic(self, request: Request) -> Response:
        body = await self._common(request)
        if failure := self._failure():
            return failure
        users = [m for m in body["messages"] if m["role"] == "user"]
        content = users[-1]["content"] if users else ""
        text = (
            content
            if isinstance(content, str)
            else " ".join(b.get("text", "") for b in content if isinstance(b, dict))
        )
        script = script_of(text, self.name)
        if body.get("stream"):
            return StreamingResponse(
                self._anthropic_stream(script, body["model"]), media_type="text/event-stream"
            )
        blocks: list[dict[str, Any]] = [{"type": "text", "text": script.text}] if script.text else []
        if script.tool:
            blocks.append(
                {"type": "tool_use", "id": "toolu_1", "name": script.tool[0], "input": script.tool[1]}
            )
        return JSONResponse(
            {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": blocks,
                "stop_reason": "tool_use" if script.tool else "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 5, "output_tokens": 7},
            }
        )

    async def _anthropic_stream(self, script: Script, model: str) -> AsyncIterator[bytes]:
        def event(name: str, data: dict[str, Any]) -> bytes:
            return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

        yield event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 5, "output_tokens": 0},
                },
            },
        )
        index = 0
        if script.text:
            yield event(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            )
            for piece in pieces(script.text):
                yield event(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                )
            yield event("content_block_stop", {"type": "content_block_stop", "index": 0})
            index = 1
        if script.tool:
            yield event(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": script.tool[0],
                        "input": {},
                    },
                },
            )
            yield event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": json.dumps(script.tool[1])},
                },
            )
            yield event("content_block_stop", {"type": "content_block_stop", "index": index})
        yield event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use" if script.tool else "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 7},
            },
        )
        yield event("message_stop", {"type": "message_stop"})

    # -- Gemini -------------------------------------------------------------------------------------

    def _gemini_script(self, body: dict[str, Any]) -> Script:
        users = [c for c in body["contents"] if c["role"] == "user"]
        text = " ".join(p.get("text", "") for p in users[-1]["parts"]) if users else ""
        return script_of(text, self.name)

    def _gemini_body(self, script: Script) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"text": script.text}] if script.text else []
        if script.tool:
            parts.append({"functionCall": {"name": script.tool[0], "args": script.tool[1]}})
        return {
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 7},
        }

    async def gemini(self, request: Request) -> Response:
        body = await self._common(request)
        if failure := self._failure():
            return failure
        return JSONResponse(self._gemini_body(self._gemini_script(body)))

    async def gemini_stream(self, request: Request) -> Response:
        body = await self._common(request)
        if failure := self._failure():
            return failure
        script = self._gemini_script(body)

        async def events() -> AsyncIterator[bytes]:
            for piece in pieces(script.text)[:-1] if script.text else []:
                chunk = {"candidates": [{"content": {"parts": [{"text": piece}]}}]}
                yield f"data: {json.dumps(chunk)}\n\n".encode()
            last = self._gemini_body(
                Script(text=pieces(script.text)[-1] if script.text else "", tool=script.tool)
            )
            yield f"data: {json.dumps(last)}\n\n".encode()

        return StreamingResponse(events(), media_type="text/event-stream")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """Runs an ASGI app under uvicorn on 127.0.0.1 in a background thread (httpx's own test pattern)."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve(provider: FakeProvider) -> Iterator[FakeProvider]:
    with ServerThread(provider.app()) as server:
        provider.port = server.port
        yield provider
