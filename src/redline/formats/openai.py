"""OpenAI's Chat Completions wire format, both ways: what clients send the gateway and what the
gateway sends OpenAI-compatible providers (OpenAI, xAI, vLLM, Ollama and the like)."""

from __future__ import annotations

import json
import time
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

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def _content(value: Any, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = []
        for i, part in enumerate(value):
            part = expect(part, dict, f"{where}[{i}]")
            if part.get("type") in ("text", "input_text", "output_text"):
                parts.append(expect(part.get("text"), str, f"{where}[{i}].text"))
            else:
                raise bad_request(
                    f"content part type {part.get('type')!r} is not supported", f"{where}[{i}].type"
                )
        return "\n".join(parts)
    raise bad_request("expected a string or a list of content parts", where)


def parse_request(body: Any) -> ChatRequest:
    body = expect(body, dict, "body")
    model = expect(body.get("model"), str, "model")
    raw_messages = expect(body.get("messages"), list, "messages")
    if not raw_messages:
        raise bad_request("must contain at least one message", "messages")
    messages = []
    for i, raw in enumerate(raw_messages):
        raw = expect(raw, dict, f"messages[{i}]")
        role = raw.get("role")
        if role == "developer":
            role = "system"
        if role not in ("system", "user", "assistant", "tool"):
            raise bad_request(f"unknown role {role!r}", f"messages[{i}].role")
        calls = []
        for j, call in enumerate(raw.get("tool_calls") or []):
            call = expect(call, dict, f"messages[{i}].tool_calls[{j}]")
            function = expect(call.get("function"), dict, f"messages[{i}].tool_calls[{j}].function")
            calls.append(
                ToolCall(
                    id=str(call.get("id") or f"call_{i}_{j}"),
                    name=expect(function.get("name"), str, f"messages[{i}].tool_calls[{j}].function.name"),
                    arguments=text_of(function.get("arguments", "")),
                )
            )
        messages.append(
            Message(
                role=role,
                content=_content(raw.get("content"), f"messages[{i}].content"),
                tool_calls=tuple(calls),
                tool_call_id=raw.get("tool_call_id"),
                name=raw.get("name"),
            )
        )
    tools = []
    for i, tool in enumerate(body.get("tools") or []):
        tool = expect(tool, dict, f"tools[{i}]")
        function = expect(tool.get("function"), dict, f"tools[{i}].function")
        tools.append(
            Tool(
                name=expect(function.get("name"), str, f"tools[{i}].function.name"),
                description=str(function.get("description") or ""),
                parameters=expect(function.get("parameters") or {}, dict, f"tools[{i}].function.parameters"),
            )
        )
    stop = body.get("stop")
    max_tokens = optional_number(body.get("max_completion_tokens", body.get("max_tokens")), "max_tokens")
    return ChatRequest(
        model=model,
        messages=tuple(messages),
        tools=tuple(tools),
        stream=bool(body.get("stream", False)),
        max_tokens=int(max_tokens) if max_tokens is not None else None,
        temperature=optional_number(body.get("temperature"), "temperature"),
        top_p=optional_number(body.get("top_p"), "top_p"),
        stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
        tool_choice=body.get("tool_choice"),
    )


def request_body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for m in request.messages:
        out: dict[str, Any] = {"role": m.role, "content": m.content}
        if m.tool_calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in m.tool_calls
            ]
            out["content"] = m.content or None
        if m.tool_call_id:
            out["tool_call_id"] = m.tool_call_id
        if m.name and m.role != "tool":
            out["name"] = m.name
        messages.append(out)
    body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": stream}
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
            }
            for t in request.tools
        ]
    if request.tool_choice is not None:
        body["tool_choice"] = request.tool_choice
    for key, value in (
        ("max_tokens", request.max_tokens),
        ("temperature", request.temperature),
        ("top_p", request.top_p),
    ):
        if value is not None:
            body[key] = value
    if request.stop:
        body["stop"] = list(request.stop)
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def parse_response(body: Any) -> ChatResponse:
    body = expect(body, dict, "response")
    choices = expect(body.get("choices"), list, "response.choices")
    choice = expect(choices[0] if choices else None, dict, "response.choices[0]")
    message = expect(choice.get("message"), dict, "response.choices[0].message")
    calls = tuple(
        ToolCall(
            id=str(c.get("id")),
            name=c["function"]["name"],
            arguments=text_of(c["function"].get("arguments", "")),
        )
        for c in message.get("tool_calls") or []
    )
    usage = body.get("usage") or {}
    return ChatResponse(
        id=str(body.get("id") or "chatcmpl-redline"),
        model=str(body.get("model") or ""),
        content=_content(message.get("content"), "response.message.content"),
        tool_calls=calls,
        finish_reason=_FINISH.get(str(choice.get("finish_reason")), "stop"),
        usage=Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)),
    )


def parse_chunk(body: Any) -> list[Delta]:
    deltas: list[Delta] = []
    usage = body.get("usage")
    for choice in body.get("choices") or []:
        delta = choice.get("delta") or {}
        if delta.get("content"):
            deltas.append(Delta(content=delta["content"]))
        for call in delta.get("tool_calls") or []:
            function = call.get("function") or {}
            deltas.append(
                Delta(
                    tool_call=ToolCallDelta(
                        index=int(call.get("index", 0)),
                        id=call.get("id"),
                        name=function.get("name"),
                        arguments=function.get("arguments") or "",
                    )
                )
            )
        if choice.get("finish_reason"):
            deltas.append(Delta(finish_reason=_FINISH.get(choice["finish_reason"], "stop")))
    if usage:
        deltas.append(
            Delta(usage=Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)))
        )
    return deltas


class OpenAIFormat(Format):
    name = "openai"

    def parse(self, body: Any) -> ChatRequest:
        return parse_request(body)

    def render(self, response: ChatResponse, model: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": response.content or None}
        if response.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in response.tool_calls
            ]
        return {
            "id": response.id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": response.finish_reason}],
            "usage": {
                "prompt_tokens": response.usage.input_tokens,
                "completion_tokens": response.usage.output_tokens,
                "total_tokens": response.usage.input_tokens + response.usage.output_tokens,
            },
        }

    def stream(self, stream_id: str, model: str) -> StreamWriter:
        return _OpenAIStream(self, stream_id, model)

    def error(self, status: int, code: str, message: str, extra: dict[str, Any]) -> dict[str, Any]:
        kind = ERROR_TYPES.get(status, "api_error")
        extra = dict(extra)
        return {
            "error": {
                "message": message,
                "type": kind,
                "code": code,
                "param": extra.pop("param", None),
                **extra,
            }
        }


class _OpenAIStream(StreamWriter):
    def __init__(self, fmt: OpenAIFormat, stream_id: str, model: str) -> None:
        self.fmt, self.id, self.model, self.created = fmt, stream_id, model, int(time.time())

    def start(self) -> bytes:
        return self._chunk({"role": "assistant", "content": ""}, None)

    def delta(self, delta: Delta) -> bytes:
        if delta.usage is not None:
            usage = {
                "prompt_tokens": delta.usage.input_tokens,
                "completion_tokens": delta.usage.output_tokens,
                "total_tokens": delta.usage.input_tokens + delta.usage.output_tokens,
            }
            return _sse(
                {
                    "id": self.id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "choices": [],
                    "usage": usage,
                }
            )
        if delta.tool_call is not None:
            call = delta.tool_call
            piece: dict[str, Any] = {"index": call.index, "function": {"arguments": call.arguments}}
            if call.id:
                piece["id"], piece["type"] = call.id, "function"
            if call.name:
                piece["function"]["name"] = call.name
            return self._chunk({"tool_calls": [piece]}, None)
        if delta.finish_reason is not None:
            return self._chunk({}, delta.finish_reason)
        return self._chunk({"content": delta.content}, None)

    def end(self) -> bytes:
        return b"data: [DONE]\n\n"

    def error(self, status: int, code: str, message: str, extra: dict[str, Any]) -> bytes:
        return _sse(self.fmt.error(status, code, message, extra)) + b"data: [DONE]\n\n"

    def _chunk(self, delta: dict[str, Any], finish: str | None) -> bytes:
        return _sse(
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


__all__ = ["OpenAIFormat", "parse_chunk", "parse_request", "parse_response", "request_body"]
