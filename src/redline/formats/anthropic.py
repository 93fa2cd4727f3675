"""Anthropic's Messages wire format, both ways: what clients send ``/v1/messages`` and what the gateway
sends Anthropic."""

from __future__ import annotations

import json
from typing import Any

from redline.chat import (
    ChatRequest,
    ChatResponse,
    Delta,
    FinishReason,
    Message,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from redline.formats.base import (
    ERROR_TYPES,
    Format,
    StreamWriter,
    bad_request,
    expect,
    optional_number,
    text_of,
)

_STOP_TO_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "pause_turn": "stop",
    "refusal": "content_filter",
}
_FINISH_TO_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def _blocks(value: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"type": "text", "text": value}]
    return [expect(b, dict, f"{where}[{i}]") for i, b in enumerate(expect(value, list, where))]


def _text(blocks: list[dict[str, Any]], where: str) -> str:
    parts = []
    for i, block in enumerate(blocks):
        if block.get("type") == "text":
            parts.append(expect(block.get("text"), str, f"{where}[{i}].text"))
        elif block.get("type") not in ("tool_use", "tool_result"):
            raise bad_request(
                f"content block type {block.get('type')!r} is not supported", f"{where}[{i}].type"
            )
    return "\n".join(parts)


def parse_request(body: Any) -> ChatRequest:
    body = expect(body, dict, "body")
    model = expect(body.get("model"), str, "model")
    max_tokens = expect(body.get("max_tokens"), int, "max_tokens")
    raw_messages = expect(body.get("messages"), list, "messages")
    if not raw_messages:
        raise bad_request("must contain at least one message", "messages")
    messages: list[Message] = []
    if body.get("system") is not None:
        system = _text(_blocks(body["system"], "system"), "system")
        messages.append(Message(role="system", content=system))
    for i, raw in enumerate(raw_messages):
        raw = expect(raw, dict, f"messages[{i}]")
        role = raw.get("role")
        if role not in ("user", "assistant"):
            raise bad_request(f"unknown role {role!r}", f"messages[{i}].role")
        where = f"messages[{i}].content"
        blocks = _blocks(raw.get("content"), where)
        for j, block in enumerate(blocks):
            if block.get("type") == "tool_result":
                content = block.get("content", "")
                text = (
                    content
                    if isinstance(content, str)
                    else _text(_blocks(content, f"{where}[{j}].content"), where)
                )
                messages.append(
                    Message(role="tool", content=text, tool_call_id=str(block.get("tool_use_id")))
                )
        calls = tuple(
            ToolCall(
                id=str(b.get("id")),
                name=expect(b.get("name"), str, f"{where}[{j}].name"),
                arguments=text_of(b.get("input", {})),
            )
            for j, b in enumerate(blocks)
            if b.get("type") == "tool_use"
        )
        text = _text(blocks, where)
        if text or calls or not any(b.get("type") == "tool_result" for b in blocks):
            messages.append(Message(role=role, content=text, tool_calls=calls))
    tools = []
    for i, tool in enumerate(body.get("tools") or []):
        tool = expect(tool, dict, f"tools[{i}]")
        tools.append(
            Tool(
                name=expect(tool.get("name"), str, f"tools[{i}].name"),
                description=str(tool.get("description") or ""),
                parameters=expect(tool.get("input_schema") or {}, dict, f"tools[{i}].input_schema"),
            )
        )
    choice = body.get("tool_choice")
    tool_choice: Any = None
    if isinstance(choice, dict):
        tool_choice = {"auto": "auto", "any": "required", "none": "none"}.get(str(choice.get("type")))
        if choice.get("type") == "tool":
            tool_choice = {"type": "function", "function": {"name": choice.get("name")}}
    return ChatRequest(
        model=model,
        messages=tuple(messages),
        tools=tuple(tools),
        stream=bool(body.get("stream", False)),
        max_tokens=max_tokens,
        temperature=optional_number(body.get("temperature"), "temperature"),
        top_p=optional_number(body.get("top_p"), "top_p"),
        stop=tuple(body.get("stop_sequences") or ()),
        tool_choice=tool_choice,
    )


def request_body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    messages: list[dict[str, Any]] = []
    for m in request.messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": m.tool_call_id,
                "content": m.content,
            }
            if messages and messages[-1]["role"] == "user" and isinstance(messages[-1]["content"], list):
                messages[-1]["content"].append(block)
            else:
                messages.append({"role": "user", "content": [block]})
            continue
        blocks: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
        for call in m.tool_calls:
            try:
                arguments = json.loads(call.arguments or "{}")
            except json.JSONDecodeError:
                arguments = {"_raw": call.arguments}
            blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": arguments})
        messages.append({"role": m.role, "content": blocks or [{"type": "text", "text": ""}]})
    body: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
        "max_tokens": request.max_tokens or 1024,
    }
    if system:
        body["system"] = system
    if request.tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters or {"type": "object"}}
            for t in request.tools
        ]
    if isinstance(request.tool_choice, str) and request.tool_choice in ("auto", "required", "none"):
        body["tool_choice"] = {
            "type": {"auto": "auto", "required": "any", "none": "none"}[request.tool_choice]
        }
    elif isinstance(request.tool_choice, dict):
        body["tool_choice"] = {"type": "tool", "name": request.tool_choice.get("function", {}).get("name")}
    for key, value in (("temperature", request.temperature), ("top_p", request.top_p)):
        if value is not None:
            body[key] = value
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if stream:
        body["stream"] = True
    return body


def parse_response(body: Any) -> ChatResponse:
    body = expect(body, dict, "response")
    blocks = expect(body.get("content"), list, "response.content")
    text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
    calls = tuple(
        ToolCall(id=str(b.get("id")), name=str(b.get("name")), arguments=text_of(b.get("input", {})))
        for b in blocks
        if b.get("type") == "tool_use"
    )
    usage = body.get("usage") or {}
    return ChatResponse(
        id=str(body.get("id") or "msg_redline"),
        model=str(body.get("model") or ""),
        content=text,
        tool_calls=calls,
        finish_reason=_STOP_TO_FINISH.get(str(body.get("stop_reason")), "stop"),
        usage=Usage(int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)),
    )


class StreamParser:
    """Turns Anthropic's stream events into deltas; keeps which content block is which tool call."""

    def __init__(self) -> None:
        self._tool_index: dict[int, int] = {}
        self._input_tokens = 0

    def feed(self, event: dict[str, Any]) -> list[Delta]:
        kind = event.get("type")
        if kind == "message_start":
            self._input_tokens = int((event.get("message", {}).get("usage") or {}).get("input_tokens") or 0)
        elif kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = self._tool_index.setdefault(int(event.get("index", 0)), len(self._tool_index))
                return [
                    Delta(tool_call=ToolCallDelta(index=index, id=block.get("id"), name=block.get("name")))
                ]
            if block.get("text"):
                return [Delta(content=block["text"])]
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                return [Delta(content=delta.get("text", ""))]
            if delta.get("type") == "input_json_delta":
                index = self._tool_index.get(int(event.get("index", 0)), 0)
                return [Delta(tool_call=ToolCallDelta(index=index, arguments=delta.get("partial_json", "")))]
        elif kind == "message_delta":
            out = []
            stop = (event.get("delta") or {}).get("stop_reason")
            if stop:
                out.append(Delta(finish_reason=_STOP_TO_FINISH.get(stop, "stop")))
            usage = event.get("usage") or {}
            if usage:
                out.append(Delta(usage=Usage(self._input_tokens, int(usage.get("output_tokens") or 0))))
            return out
        elif kind == "error":
            error = event.get("error") or {}
            raise ValueError(f"{error.get('type')}: {error.get('message')}")
        return []


class AnthropicFormat(Format):
    name = "anthropic"

    def parse(self, body: Any) -> ChatRequest:
        return parse_request(body)

    def render(self, response: ChatResponse, model: str) -> dict[str, Any]:
        content: list[dict[str, Any]] = (
            [{"type": "text", "text": response.content}] if response.content else []
        )
        for call in response.tool_calls:
            try:
                arguments = json.loads(call.arguments or "{}")
            except json.JSONDecodeError:
                arguments = {"_raw": call.arguments}
            content.append({"type": "tool_use", "id": call.id, "name": call.name, "input": arguments})
        return {
            "id": response.id if response.id.startswith("msg") else f"msg_{response.id}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": _FINISH_TO_STOP.get(response.finish_reason, "end_turn"),
            "stop_sequence": None,
            "usage": {
                "input_tokens": response.usage.input_tokens,
                "output_tokens": response.usage.output_tokens,
            },
        }

    def stream(self, stream_id: str, model: str) -> StreamWriter:
        return _AnthropicStream(self, stream_id, model)

    def error(self, status: int, code: str, message: str, extra: dict[str, Any]) -> dict[str, Any]:
        kind = ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message, "code": code, **extra}}


class _AnthropicStream(StreamWriter):
    """Content blocks are numbered in the order they open, one open at a time, as in Anthropic's own
    streams: a text run is one block, each tool call another; the open block is closed before the
    next opens and before the message delta."""

    def __init__(self, fmt: AnthropicFormat, stream_id: str, model: str) -> None:
        self.fmt, self.id, self.model = fmt, stream_id, model
        self.current: tuple[str, int] | None = None  # ("text", 0) or ("tool", call index)
        self.index = -1
        self.output_tokens = 0
        self.finish: str | None = None

    def start(self) -> bytes:
        message: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return _event("message_start", {"type": "message_start", "message": message})

    def _switch(self, key: tuple[str, int], block: dict[str, Any]) -> bytes:
        if self.current == key:
            return b""
        out = self._close()
        self.current, self.index = key, self.index + 1
        return out + _event(
            "content_block_start",
            {"type": "content_block_start", "index": self.index, "content_block": block},
        )

    def _close(self) -> bytes:
        if self.current is None:
            return b""
        self.current = None
        return _event("content_block_stop", {"type": "content_block_stop", "index": self.index})

    def delta(self, delta: Delta) -> bytes:
        out = b""
        if delta.content:
            out += self._switch(("text", 0), {"type": "text", "text": ""})
            out += _event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": self.index,
                    "delta": {"type": "text_delta", "text": delta.content},
                },
            )
        if delta.tool_call is not None:
            call = delta.tool_call
            out += self._switch(
                ("tool", call.index), {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
            )
            if call.arguments:
                out += _event(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": self.index,
                        "delta": {"type": "input_json_delta", "partial_json": call.arguments},
                    },
                )
        if delta.usage is not None:
            self.output_tokens = delta.usage.output_tokens
        if delta.finish_reason is not None:
            self.finish = _FINISH_TO_STOP.get(delta.finish_reason, "end_turn")
        return out

    def end(self) -> bytes:
        return (
            self._close()
            + _event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self.finish or "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": self.output_tokens},
                },
            )
            + _event("message_stop", {"type": "message_stop"})
        )

    def error(self, status: int, code: str, message: str, extra: dict[str, Any]) -> bytes:
        return _event("error", self.fmt.error(status, code, message, extra))


def _event(name: str, data: dict[str, Any]) -> bytes:
    return (
        f"event: {name}\ndata: ".encode()
        + json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        + b"\n\n"
    )


__all__ = ["AnthropicFormat", "StreamParser", "parse_request", "parse_response", "request_body"]
