"""Screening an answer while it streams.

Text is held back only until a sentence ends (or ``hold_chars`` pile up), then that piece is screened
together with the end of what was already sent — so an ask split over two sentences is still seen —
and released if it passes. The first piece that crosses a red line stops the stream: nothing of it
reaches the client. Tool calls are held whole until their arguments are complete, then screened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from redline.screen import Screen, Verdict

_SENTENCE_END = re.compile(r"[.!?;。！？；؟\n](?=\s|$)|[。！？；]")
CONTEXT_CHARS = 240


@dataclass
class StreamGuard:
    screen: Screen
    hold_chars: int = 200
    pending: str = ""
    sent_tail: str = ""
    verdicts: list[Verdict] = field(default_factory=list)
    received: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Everything the provider has streamed so far, sent or not."""
        return "".join(self.received)

    def feed(self, text: str) -> tuple[str, Verdict | None]:
        """Add streamed text; return (text that may be sent now, the verdict if it crossed a line)."""
        self.received.append(text)
        self.pending += text
        cut = self._release_point()
        if cut == 0:
            return "", None
        return self._screen_and_release(cut)

    def flush(self) -> tuple[str, Verdict | None]:
        if not self.pending.strip():
            released, self.pending = self.pending, ""
            return released, None
        return self._screen_and_release(len(self.pending))

    def _release_point(self) -> int:
        last = 0
        for match in _SENTENCE_END.finditer(self.pending):
            last = match.end()
        if last:
            return last
        return len(self.pending) if len(self.pending) >= self.hold_chars else 0

    def _screen_and_release(self, cut: int) -> tuple[str, Verdict | None]:
        piece = self.pending[:cut]
        verdict = self.screen.check((self.sent_tail + piece).strip() or piece)
        self.verdicts.append(verdict)
        if not verdict.allowed:
            return "", verdict
        self.pending = self.pending[cut:]
        self.sent_tail = (self.sent_tail + piece)[-CONTEXT_CHARS:]
        return piece, None


__all__ = ["StreamGuard"]
