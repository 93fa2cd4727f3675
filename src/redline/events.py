"""What the ledger records: one documented event class per kind of decision.

Every event names the tenant, the contract (by hash) it was judged under, the decision with its clause
and scores, and a hash of the request it concerns — never the texts themselves unless the tenant's
configuration asks for them (``texts``). The ledger adds the id, the time and the hash chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of the ledger's events. ``kind`` names the class in the stored record."""

    kind: ClassVar[str] = "event"
    tenant: str
    request_hash: str
    contract: str

    def body(self) -> dict[str, Any]:
        fields = {k: v for k, v in self.__dict__.items() if v is not None}
        return {"kind": self.kind, **fields}


@dataclass(frozen=True, kw_only=True)
class RequestScreened(Event):
    """A request was screened before any provider saw it. ``action`` is what the gateway did:
    ``allow`` (sent on), ``flag`` (sent on, marked), ``block`` (refused with 403)."""

    kind: ClassVar[str] = "request"
    decision: str
    action: str
    scores: Mapping[str, float]
    model: str
    endpoint: str
    language: str = "und"
    disguises: tuple[str, ...] = ()
    texts: tuple[str, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class AnswerScreened(Event):
    """A provider's answer was screened. ``action`` ``block`` means the answer was withheld (403) or,
    when ``streamed``, that the stream was cut at the first red-line window; ``hold`` means a lethal
    tool call was held for a human decision."""

    kind: ClassVar[str] = "answer"
    decision: str
    action: str
    scores: Mapping[str, float]
    model: str
    provider: str
    streamed: bool = False
    tool_calls: tuple[str, ...] = ()
    texts: tuple[str, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class ProviderFailed(Event):
    """No provider of the route answered; the client got a 502 or 504."""

    kind: ClassVar[str] = "provider-failed"
    model: str
    attempts: tuple[str, ...] = field(default_factory=tuple)
    status: int = 502


__all__ = ["AnswerScreened", "Event", "ProviderFailed", "RequestScreened"]
