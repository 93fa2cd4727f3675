"""The gateway's own, provider-neutral shape of a chat exchange.

Every wire format (``formats/``) parses its requests into a :class:`ChatRequest` and renders
:class:`ChatResponse` and :class:`Delta` back; every provider (``providers/``) does the reverse towards
its API. Translation between formats is therefore never format-to-format: an OpenAI client reaching a
Claude model goes OpenAI → ChatRequest → Anthropic, and back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it

    @property
    def text(self) -> str:
        """The call as the screen reads it and the ledger keeps it: ``name(arguments)``."""
        return f"{self.name}({self.arguments})"


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None  # for role "tool": the call this is the result of
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)  # JSON schema


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    tools: tuple[Tool, ...] = ()
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    tool_choice: Any = None  # OpenAI form: "auto", "none", "required" or {"type": "function", ...}

    def texts(self) -> Iterator[str]:
        """Every text a provider would read: system, user, assistant and tool messages, the
        arguments of earlier tool calls, and the tools' descriptions and schemas."""
        for message in self.messages:
            if message.content.strip():
                yield message.content
            for call in message.tool_calls:
                if call.arguments.strip() not in ("", "{}"):
                    yield call.arguments
        for tool in self.tools:
            schema = tool.description + (
                " " + json.dumps(tool.parameters, ensure_ascii=False) if tool.parameters else ""
            )
            if schema.strip():
                yield schema.strip()


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


@dataclass(frozen=True, slots=True)
class ChatResponse:
    id: str
    model: str
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: FinishReason = "stop"
    usage: Usage = Usage()

    def texts(self) -> Iterator[str]:
        if self.content.strip():
            yield self.content
        for call in self.tool_calls:
            yield call.text


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class Delta:
    """One streamed piece of an answer: text, a piece of a tool call, or the end."""

    content: str = ""
    tool_call: ToolCallDelta | None = None
    finish_reason: FinishReason | None = None
    usage: Usage | None = None


__all__ = [
    "ChatRequest",
    "ChatResponse",
    "Delta",
    "FinishReason",
    "Message",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
]
