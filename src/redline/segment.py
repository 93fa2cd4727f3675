"""Cutting a text into sentences: the unit the encoder pools over and the screen's windows are made of."""

from __future__ import annotations

import re

LONG_SENTENCE_CHARS = 600

_SENTENCE_END = re.compile(r"(?<=[.!?;。！？；؟])\s+|(?<=[。！？；])|\n+")


def sentences(text: str, *, longest: int = LONG_SENTENCE_CHARS) -> list[str]:
    """The sentences of ``text``, stripped, none empty; a sentence longer than ``longest`` characters is
    cut at a space (or, with none near, at ``longest``) into pieces no longer than that."""
    out: list[str] = []
    for piece in _SENTENCE_END.split(text):
        piece = piece.strip()
        while len(piece) > longest:
            cut = piece.rfind(" ", longest // 2, longest)
            cut = cut if cut > 0 else longest
            out.append(piece[:cut].strip())
            piece = piece[cut:].strip()
        if piece:
            out.append(piece)
    return out


__all__ = ["LONG_SENTENCE_CHARS", "sentences"]
