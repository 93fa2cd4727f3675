"""Google's Gemini API (``generateContent`` and ``streamGenerateContent?alt=sse``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from redline.chat import ChatRequest, ChatResponse, Delta, FinishReason, ToolCall, ToolCallDelta, Usage
from redline.providers.base import Provider, UpstreamError

_FINISH: dict[str, FinishReason] = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter"}


def request_body(request: ChatRequest) -> dict[str, Any]:
    names = {c.id: c.name for m in request.messages for c in m.tool_calls}
    contents: list[dict[str, Any]] = []
    for m in request.messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            try:
                result = json.loads(m.content)
            except json.JSONDecodeError:
                result = m.content
            name = names.get(m.tool_call_id or "", m.name or "tool")
            part = {
                "functionResponse": {
                    "name": name,
                    "response": result if isinstance(result, dict) else {"result": result},
                }
            }
            contents.append({"role": "user", "parts": [part]})
            continue
        parts: list[dict[str, Any]] = [{"text": m.content}] if m.content else []
        for call in m.tool_calls:
            parts.append({"functionCall": {"name": call.name, "args": json.loads(call.arguments or "{}")}})
        contents.append(
            {"role": "model" if m.role == "assistant" else "user", "parts": parts or [{"text": ""}]}
        )
    body: dict[str, Any] = {"contents": contents}
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    if request.tools:
        body["tools"] = [
            {
                "functionDeclarations": [
                    {
                        "name": t.name,
                        "description": t.description,
                        **({"parameters": t.parameters} if t.parameters else {}),
                    }
                    for t in request.tools
                ]
            }
        ]
    config: dict[str, Any] = {}
    for key, value in (
        ("maxOutputTokens", request.max_tokens),
        ("temperature", request.temperature),
        ("topP", request.top_p),
    ):
        if value is not None:
            config[key] = value
    if request.stop:
        config["stopSequences"] = list(request.stop)
    if config:
        body["generationConfig"] = config
    return body


def _parts(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    candidates = body.get("candidates") or []
    if not candidates:
        return [], None
    candidate = candidates[0]
    return (candidate.get("content") or {}).get("parts") or [], candidate.get("finishReason")


def _usage(body: dict[str, Any]) -> Usage | None:
    meta = body.get("usageMetadata")
    if not meta:
        return None
    return Usage(int(meta.get("promptTokenCount") or 0), int(meta.get("candidatesTokenCount") or 0))


class GeminiProvider(Provider):
    type = "gemini"

    def _headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.api_key} if self.api_key else {}

    async def complete(self, request: ChatRequest) -> ChatResponse:
        url = f"{self.config.url}/v1beta/models/{request.model}:generateContent"
        body = await self._post(url, request_body(request), self._headers())
        parts, finish = _parts(body)
        calls = tuple(
            ToolCall(
                id=f"call_{i}",
                name=p["functionCall"]["name"],
                arguments=json.dumps(p["functionCall"].get("args", {})),
            )
            for i, p in enumerate(parts)
            if "functionCall" in p
        )
        return ChatResponse(
            id=str(body.get("responseId") or "gemini"),
            model=request.model,
            content="".join(p.get("text", "") for p in parts),
            tool_calls=calls,
            finish_reason="tool_calls" if calls else _FINISH.get(str(finish), "stop"),
            usage=_usage(body) or Usage(),
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        url = f"{self.config.url}/v1beta/models/{request.model}:streamGenerateContent?alt=sse"
        calls = 0
        async for _, data in self._sse(url, request_body(request), self._headers()):
            try:
                body = json.loads(data)
            except json.JSONDecodeError:
                raise UpstreamError(self.name, "sent a stream chunk that is not JSON") from None
            parts, finish = _parts(body)
            for part in parts:
                if part.get("text"):
                    yield Delta(content=part["text"])
                if "functionCall" in part:
                    call = part["functionCall"]
                    yield Delta(
                        tool_call=ToolCallDelta(
                            index=calls,
                            id=f"call_{calls}",
                            name=call["name"],
                            arguments=json.dumps(call.get("args", {})),
                        )
                    )
                    calls += 1
            if finish:
                yield Delta(finish_reason="tool_calls" if calls else _FINISH.get(finish, "stop"))
            usage = _usage(body)
            if usage and finish:
                yield Delta(usage=usage)


__all__ = ["GeminiProvider", "request_body"]
