"""A wire format the gateway speaks to clients.

A :class:`Format` turns a client's JSON body into a :class:`~redline.chat.ChatRequest` (``parse``,
raising :class:`~redline.errors.RequestError` with status 400 and the offending field as ``param``),
and turns the gateway's answers back into that API's shapes: a whole response (``render``), a
server-sent-event stream (``stream`` gives a :class:`StreamWriter` for one stream, which keeps what
that API needs to remember, such as which content blocks are open), and errors both as a JSON body
(``error``) and as an event inside a stream that has already begun (``StreamWriter.error``) — each
in the API's own error format, so the client's SDK raises its usual exception. Formats hold no
state; one instance serves every request.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any, TypeVar

from redline.chat import ChatRequest, ChatResponse, Delta
from redline.errors import RequestError

T = TypeVar("T")


class Format(ABC):
    name: str

    @abstractmethod
    def parse(self, body: Any) -> ChatRequest: ...

    @abstractmethod
    def render(self, response: ChatResponse, model: str) -> dict[str, Any]: ...

    @abstractmethod
    def stream(self, stream_id: str, model: str) -> StreamWriter: ...

    @abstractmethod
    def error(self, status: int, code: str, message: str, extra: dict[str, Any]) -> dict[str, Any]: ...


class StreamWriter(ABC):
    """Renders one answer stream as server-sent events: ``start`` once, ``delta`` per piece, then
    either ``end`` or ``error`` (which also ends the stream)."""

    @abstractmethod
    def start(self) -> bytes: ...

    @abstractmethod
    def delta(self, delta: Delta) -> bytes: ...

    @abstractmethod
    def end(self) -> bytes: ...

    @abstractmethod
    def error(self, status: int, code: str, message: str, extra: dict[str, Any]) -> bytes: ...


# The error ``type`` both APIs use for an HTTP status; anything else is an "api_error".
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}

_TYPE_NAMES = {dict: "an object", list: "an array", str: "a string", int: "an integer"}


def bad_request(message: str, param: str) -> RequestError:
    return RequestError(400, "invalid_request_error", f"{param}: {message}", param=param)


def expect(value: Any, kind: type[T], where: str) -> T:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        got = "nothing" if value is None else type(value).__name__
        raise bad_request(f"expected {_TYPE_NAMES.get(kind, kind.__name__)}, got {got}", where)
    return value


def optional_number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"expected a number, got {type(value).__name__}", where)
    return float(value)


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


__all__ = ["ERROR_TYPES", "Format", "StreamWriter", "bad_request", "expect", "optional_number", "text_of"]
