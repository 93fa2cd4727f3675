from __future__ import annotations

from redline.segment import LONG_SENTENCE_CHARS, sentences


def test_sentences_end_at_punctuation_and_line_breaks() -> None:
    text = "First one. Second one?  Third!\n\nFourth line\n明日です。次の文"
    assert sentences(text) == ["First one.", "Second one?", "Third!", "Fourth line", "明日です。", "次の文"]


def test_a_long_sentence_is_cut_at_spaces_into_short_pieces() -> None:
    text = " ".join(["word"] * 400)  # 1,999 characters, no full stop
    pieces = sentences(text)
    assert len(pieces) > 1
    assert all(0 < len(p) <= LONG_SENTENCE_CHARS for p in pieces)
    assert " ".join(pieces) == text


def test_nothing_readable_gives_no_sentences() -> None:
    assert sentences("  \n \n ") == []
