"""Heads: small numpy models that turn an encoder's features into one score per clause.

:class:`Heads` is what ships for the built-in clauses: an ensemble of one-hidden-layer networks with
one sigmoid output per clause (a text can cross both lines at once) on the encoder's features (the
sentence vector and the main components of its token maxima), combined with a linear model on hashed
character n-grams, trained by :func:`fit_heads`.
:class:`LinearHead` scores a contract's own clause from its examples (:func:`fit_linear`): a few dozen
texts are enough because the encoder already places meaning; the encoder itself is never retrained.

Everything here is deterministic for a given seed, so ``redline train`` rebuilds the shipped file
bit for bit from the corpus.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from redline.errors import ModelError

Array = npt.NDArray[np.float32]


def _sigmoid(z: npt.NDArray[Any]) -> npt.NDArray[Any]:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


def _logit(p: Array) -> Array:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(p / (1 - p)), np.float32)


NGRAM_BITS = 18
NGRAM_BUCKETS = 1 << NGRAM_BITS
NGRAM_ORDERS = (2, 3, 4)
NGRAM_SCHEME = "poly1000003-fib-2to4-18"  # changes whenever ngram_ids would map a text differently


_MIX = np.uint64(0x9E3779B97F4A7C15)


def ngram_ids(text: str) -> npt.NDArray[np.int64]:
    """Hashed character 2- to 4-grams of the lower-cased text, as unique bucket ids.

    The hash is a fixed polynomial over code points (vectorised, the same in every process), so the
    shipped weights mean the same thing wherever they are loaded.
    """
    return ngram_rows([text])[1]


def ngram_rows(texts: Sequence[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """:func:`ngram_ids` of many texts at once: (text index, bucket id) pairs, unique, sorted by text.

    The texts are hashed as one run of code points, so a batch costs a few array operations rather than
    a few per text; an n-gram counts only where it lies inside one text."""
    padded = [" " + " ".join(text.lower().split()) + " " for text in texts]
    lengths = np.fromiter(map(len, padded), np.int64, len(padded))
    codes = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    owner = np.repeat(np.arange(len(padded), dtype=np.int64), lengths)
    end = np.cumsum(lengths)[owner]  # where each position's text ends
    keys = []
    for n in NGRAM_ORDERS:
        if len(codes) < n:
            continue
        h = np.full(len(codes) - n + 1, n, dtype=np.uint64)
        for offset in range(n):
            h = h * np.uint64(1_000_003) + codes[offset : len(codes) - n + 1 + offset]
        inside = np.arange(len(h)) + n <= end[: len(h)]
        buckets = ((h[inside] * _MIX) >> np.uint64(64 - NGRAM_BITS)).astype(np.int64)
        keys.append((owner[: len(h)][inside] << NGRAM_BITS) | buckets)
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    merged = np.concatenate(keys)
    merged.sort()  # sorting and dropping repeats beats np.unique's hash table here, by far
    unique = merged[np.concatenate(([True], merged[1:] != merged[:-1]))]
    return unique >> NGRAM_BITS, unique & (NGRAM_BUCKETS - 1)


@dataclass(frozen=True)
class Heads:
    """The built-in clauses' scorer: ``(vectors (n, d), texts) -> scores (n, len(clause_ids))`` in [0, 1].

    Two views of each text are combined in logit space: an ensemble of one-hidden-layer networks on the
    encoder's features (meaning, across languages: the sentence vector, and through ``token_w`` the
    strongest token features) and a linear model on hashed character n-grams (the
    exact words that carry a condition: "without operator confirmation", "sans validation", "승인 없이").
    The networks also output how likely the text is of each lawful or disguised kind in ``aux_ids`` (a
    warrant, a named approver, interception …). ``blend`` weighs the two views and those kinds, per
    clause, separately for languages the encoder covers and the rest, and carries the calibration found
    by ``redline train``.
    """

    clause_ids: tuple[str, ...]
    encoder: str
    w1: Array  # (members, d, hidden)
    b1: Array  # (members, hidden)
    w2: Array  # (members, hidden, clauses)
    b2: Array  # (members, clauses)
    ngram_w: Array  # (NGRAM_BUCKETS, clauses)
    ngram_b: Array  # (clauses,)
    ngram_weight: float = 0.5
    blend: Array | None = None  # (2, clauses, 3 + len(aux_ids)) or (2, clauses, 3), see blended()
    meta: dict[str, Any] = field(default_factory=dict)
    aux_ids: tuple[str, ...] = ()  # the networks' outputs after the clauses' ones: corpus kinds
    # The encoder's columns past its sentence vector (the token maxima), standardised and projected onto
    # their main components before the networks see them: (extra columns, components) and (components,).
    token_w: Array | None = None
    token_b: Array | None = None

    def inputs(self, x: Array) -> Array:
        """What the networks read: the sentence vector, then the projected finer features (if any)."""
        if self.token_w is None or self.token_b is None:
            return x
        return _projected(x, (self.token_w, self.token_b))

    @functools.cached_property
    def _w1_flat(self) -> tuple[Array, Array]:
        """The members' first layers side by side, (d, members * hidden): one matrix product for all."""
        m, d, h = self.w1.shape
        return np.ascontiguousarray(self.w1.transpose(1, 0, 2).reshape(d, m * h)), self.b1.reshape(m * h)

    def network_probabilities(self, x: Array) -> Array:
        """(n, clauses + aux): every output of the networks, averaged over the members."""
        m, _, h = self.w1.shape
        w1, b1 = self._w1_flat
        hidden = np.maximum(self.inputs(x) @ w1 + b1, 0.0).reshape(len(x), m, h).transpose(1, 0, 2)
        logits = np.matmul(hidden, self.w2) + self.b2[:, None, :]
        return np.asarray(_sigmoid(logits).mean(axis=0), dtype=np.float32)

    def ngram_logits(self, texts: Sequence[str]) -> Array:
        owner, buckets = ngram_rows(texts)
        weights = self.ngram_w[buckets]
        sums = np.stack(
            [np.bincount(owner, weights[:, c], len(texts)) for c in range(len(self.clause_ids))], axis=1
        )
        counts = np.maximum(np.bincount(owner, minlength=len(texts)), 1).astype(np.float64)
        return np.asarray(sums / np.sqrt(counts)[:, None] + self.ngram_b, np.float32)

    def parts(self, x: Array, texts: Sequence[str]) -> tuple[Array, Array, Array]:
        """What :func:`blended` combines: the networks' clause logits and the n-grams' (n, clauses) each,
        and the networks' kind logits (n, len(aux_ids))."""
        k = len(self.clause_ids)
        outputs = _logit(self.network_probabilities(x))
        return outputs[:, :k], self.ngram_logits(texts), outputs[:, k : k + len(self.aux_ids)]

    def scores_and_kinds(
        self, x: Array, texts: Sequence[str], uncovered: npt.NDArray[np.bool_] | None = None
    ) -> tuple[Array, Array]:
        """Scores (n, clauses) in [0, 1], and how likely each text is of each kind in ``aux_ids`` (the
        corpus's lawful and disguised kinds), from one pass of the networks. ``uncovered`` marks the
        texts in a language the encoder was not trained on (see :func:`blended`)."""
        k = len(self.clause_ids)
        outputs = self.network_probabilities(x)
        blend = self.blend if self.blend is not None else default_blend(k, self.ngram_weight)
        kinds = outputs[:, k : k + len(self.aux_ids)]
        logits = blended(blend, _logit(outputs[:, :k]), self.ngram_logits(texts), uncovered, _logit(kinds))
        return np.asarray(_sigmoid(logits), np.float32), kinds

    def scores(self, x: Array, texts: Sequence[str], uncovered: npt.NDArray[np.bool_] | None = None) -> Array:
        return self.scores_and_kinds(x, texts, uncovered)[0]

    def save(self, path: str | Path) -> None:
        header = {
            "clause_ids": list(self.clause_ids),
            "encoder": self.encoder,
            "ngram_weight": self.ngram_weight,
            "ngram_scheme": NGRAM_SCHEME,
            "meta": self.meta,
            "aux_ids": list(self.aux_ids),
        }
        arrays: dict[str, Array] = {}
        if self.token_w is not None and self.token_b is not None:
            arrays = {"token_w": self.token_w, "token_b": self.token_b}
        blend = (
            self.blend if self.blend is not None else default_blend(len(self.clause_ids), self.ngram_weight)
        )
        nonzero = np.flatnonzero(np.any(self.ngram_w != 0, axis=1))
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            w1=self.w1,
            b1=self.b1,
            w2=self.w2,
            b2=self.b2,
            blend=blend,
            ngram_rows=nonzero.astype(np.int32),
            ngram_values=self.ngram_w[nonzero],
            ngram_b=self.ngram_b,
            header=np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8),
            **arrays,  # type: ignore[arg-type]  # numpy's stub types **kwds as its bool flag
        )
        Path(path).write_bytes(buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> Heads:
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(z["header"].tobytes().decode())
                if header.get("ngram_scheme") != NGRAM_SCHEME:
                    raise ModelError(
                        f"heads file {path} hashes n-grams as {header.get('ngram_scheme')!r}, this code as "
                        f"{NGRAM_SCHEME!r}; run 'redline train'"
                    )
                clause_ids = tuple(header["clause_ids"])
                ngram_w = np.zeros((NGRAM_BUCKETS, len(clause_ids)), np.float32)
                ngram_w[z["ngram_rows"]] = z["ngram_values"]
                return cls(
                    clause_ids=clause_ids,
                    encoder=header["encoder"],
                    w1=z["w1"],
                    b1=z["b1"],
                    w2=z["w2"],
                    b2=z["b2"],
                    ngram_w=ngram_w,
                    ngram_b=z["ngram_b"],
                    ngram_weight=float(header["ngram_weight"]),
                    blend=z["blend"],
                    meta=header.get("meta", {}),
                    aux_ids=tuple(header.get("aux_ids", ())),
                    token_w=z.get("token_w"),
                    token_b=z.get("token_b"),
                )
        except FileNotFoundError:
            raise ModelError(f"no heads file at {path}; run 'redline train' to build it") from None
        except (KeyError, ValueError, OSError) as exc:
            raise ModelError(f"heads file {path} is corrupt: {exc}") from None


def default_blend(clauses: int, ngram_weight: float) -> Array:
    """The blend that adds the networks' logit to ``ngram_weight`` times the n-grams', in both groups."""
    return np.tile(np.array([1.0, ngram_weight, 0.0], np.float32), (2, clauses, 1))


def blended(
    blend: Array,
    mlp: Array,
    ngram: Array,
    uncovered: npt.NDArray[np.bool_] | None = None,
    kinds: Array | None = None,
) -> Array:
    """The views' logits combined, per clause: a weight for the networks' logit, one for the n-grams',
    one for each of the networks' kind logits (``kinds``, when the blend has them) and a bias, in that
    order along ``blend``'s last axis.

    The kinds (a warrant, a named approver, interception, a news summary …) are the conditions a red
    line turns on, so weighing them lets the decision lean on the condition that tells an ask from
    its lawful twin. The sentence vectors of a text in a language the encoder was not trained on
    (``uncovered``) carry little meaning, so the blend is separate for those: ``blend[group]``, group
    0 covered and 1 uncovered. ``redline train`` fits it."""
    group = np.zeros(len(mlp), np.int64) if uncovered is None else uncovered.astype(np.int64)
    b = blend[group]
    out = b[..., 0] * mlp + b[..., 1] * ngram + b[..., -1]
    if b.shape[-1] > 3:
        if kinds is None or kinds.shape[1] != b.shape[-1] - 3:
            raise ModelError(
                f"this blend weighs {b.shape[-1] - 3} kinds; got {0 if kinds is None else kinds.shape[1]}"
            )
        out += np.einsum("nkf,nf->nk", b[..., 2:-1], kinds)
    return np.asarray(out, np.float32)


def fit_blend(
    mlp: Array,
    ngram: Array,
    y: Array,
    uncovered: npt.NDArray[np.bool_],
    kinds: Array | None = None,
    *,
    l2: float = 1e-2,
    steps: int = 600,
) -> Array:
    """Per group (covered, uncovered) and clause, a logistic regression of the label on the views'
    logits (and the kind logits, if given): how much each is worth where the encoder does and does
    not know the language. Shrunk towards :func:`default_blend` with kinds weighing nothing."""
    k = y.shape[1]
    extra = 0 if kinds is None else kinds.shape[1]
    prior = np.zeros((2, k, 3 + extra), np.float32)
    prior[..., [0, 1, -1]] = default_blend(k, 0.5)
    blend = prior.copy()
    for group in (0, 1):
        rows = uncovered == bool(group)
        if rows.sum() < 20:
            continue
        for clause in range(k):
            views = [mlp[rows, clause : clause + 1], ngram[rows, clause : clause + 1]]
            features = np.concatenate(views + ([] if kinds is None else [kinds[rows]]), axis=1)
            target = y[rows, clause]
            start = prior[group, clause, :-1]
            params = [start.copy(), prior[group, clause, -1:].copy()]
            adam = _Adam(params, 0.05)
            for _ in range(steps):
                g = (_sigmoid(features @ params[0] + params[1][0]) - target) / len(target)
                adam.step([features.T @ g + l2 * (params[0] - start), np.array([g.sum()])])
            blend[group, clause, :-1], blend[group, clause, -1] = params[0], params[1][0]
    return blend


def token_projection(x: Array, sentence_dim: int, components: int) -> tuple[Array, Array] | None:
    """:func:`fit_projection` of ``x``'s columns past its first ``sentence_dim``, or None when there are
    none or no ``components`` are asked for."""
    if not components or x.shape[1] <= sentence_dim:
        return None
    return fit_projection(x[:, sentence_dim:], components)


def _projected(x: Array, projection: tuple[Array, Array]) -> Array:
    """``x`` with its columns past the sentence vector replaced by their projection ``(w, b)``."""
    w, b = projection
    sentence = x.shape[1] - w.shape[0]
    return np.concatenate([x[:, :sentence], x[:, sentence:] @ w + b], axis=1)


def fit_projection(features: Array, components: int, *, scale: float = 0.05) -> tuple[Array, Array]:
    """``(w, b)`` that standardise ``features`` column by column and project them onto their first
    ``components`` principal components, each scaled to standard deviation ``scale`` (about that of a
    unit sentence vector's coordinates, so neither part of the networks' input drowns the other)."""
    mean = features.mean(axis=0)
    std = features.std(axis=0) + 1e-3
    sample = (features[::2] - mean) / std  # every other row: the components are as good, twice as fast
    _, singular, vt = np.linalg.svd(sample, full_matrices=False)
    w = (vt[:components].T / std[:, None]) * (scale * np.sqrt(len(sample)) / singular[:components])
    return w.astype(np.float32), (-(mean @ w)).astype(np.float32)


@dataclass(frozen=True)
class LinearHead:
    """Logistic regression on sentence vectors, for one clause defined by examples."""

    w: Array  # (d,)
    b: float

    def scores(self, x: Array) -> Array:
        return np.asarray(_sigmoid(x @ self.w + self.b), dtype=np.float32)


@dataclass(frozen=True)
class TrainConfig:
    hidden: int = 256
    members: int = 5
    epochs: int = 60
    batch: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    input_noise: float = 0.03
    ngram_epochs: int = 8
    ngram_lr: float = 0.2
    ngram_weight: float = 0.5
    token_components: int = 256  # of the encoder's finer features (fit_projection); 0 reads none
    seed: int = 7


def fit_heads(
    x: Array,
    texts: Sequence[str],
    y: Array,
    weights: Array,
    clause_ids: tuple[str, ...],
    encoder: str,
    config: TrainConfig | None = None,
    meta: dict[str, Any] | None = None,
    aux: Array | None = None,
    aux_ids: tuple[str, ...] = (),
    *,
    sentence_dim: int | None = None,
    projection: tuple[Array, Array] | None = None,
) -> Heads:
    """Fit both views on the same examples; ``y`` is (n, clauses) in {0, 1}.

    ``x``'s first ``sentence_dim`` columns (all by default) are sentence vectors; the networks read the
    rest through :func:`fit_projection` (or ``projection``, to share one between fits).

    ``aux`` (n, len(aux_ids)) are extra targets the networks learn beside the clauses: telling the
    lawful look-alikes apart by kind (a warrant, interception, a news summary …) shapes the hidden
    layer around the conditions that separate them from the red lines, and the screen reads those
    outputs back to explain a verdict condition by condition.
    """
    config = config or TrainConfig()
    sentence_dim = x.shape[1] if sentence_dim is None else sentence_dim
    targets = y if aux is None else np.concatenate([y, aux], axis=1)
    projection = projection or token_projection(x, sentence_dim, config.token_components)
    x = x[:, :sentence_dim] if projection is None else _projected(x, projection)
    token_w, token_b = projection or (None, None)
    w1, b1, w2, b2 = fit_mlp(x, targets, weights, config)
    ngram_w, ngram_b = fit_ngrams([ngram_ids(t) for t in texts], y, weights, config)
    return Heads(
        clause_ids,
        encoder,
        w1,
        b1,
        w2,
        b2,
        ngram_w,
        ngram_b,
        config.ngram_weight,
        None,
        meta or {},
        aux_ids,
        token_w,
        token_b,
    )


def fit_mlp(x: Array, y: Array, weights: Array, config: TrainConfig) -> tuple[Array, Array, Array, Array]:
    """Fit ``config.members`` MLPs with sigmoid cross-entropy; returns the stacked weights."""
    n, d = x.shape
    k = y.shape[1]
    w1 = np.empty((config.members, d, config.hidden), np.float32)
    b1 = np.empty((config.members, config.hidden), np.float32)
    w2 = np.empty((config.members, config.hidden, k), np.float32)
    b2 = np.empty((config.members, k), np.float32)
    for m in range(config.members):
        rng = np.random.default_rng(config.seed + m)
        params = [
            (rng.standard_normal((d, config.hidden)) * np.sqrt(2.0 / d)).astype(np.float32),
            np.zeros(config.hidden, np.float32),
            (rng.standard_normal((config.hidden, k)) * np.sqrt(1.0 / config.hidden)).astype(np.float32),
            np.zeros(k, np.float32),
        ]
        adam = _Adam(params, config.lr)
        for _ in range(config.epochs):
            order = rng.permutation(n)
            for start in range(0, n, config.batch):
                rows = order[start : start + config.batch]
                xb = x[rows] + rng.standard_normal((len(rows), d)).astype(np.float32) * config.input_noise
                yb, wb = y[rows], weights[rows]
                h_pre = xb @ params[0] + params[1]
                h = np.maximum(h_pre, 0.0)
                p = _sigmoid(h @ params[2] + params[3])
                g_logits = (p - yb) * wb[:, None] / wb.sum()
                g_w2 = h.T @ g_logits
                g_b2 = g_logits.sum(axis=0)
                g_h = (g_logits @ params[2].T) * (h_pre > 0)
                g_w1 = xb.T @ g_h
                g_b1 = g_h.sum(axis=0)
                grads = [
                    g_w1 + config.weight_decay * params[0],
                    g_b1,
                    g_w2 + config.weight_decay * params[2],
                    g_b2,
                ]
                adam.step(grads)
        w1[m], b1[m], w2[m], b2[m] = params
    return w1, b1, w2, b2


def fit_ngrams(
    rows: list[npt.NDArray[np.int64]], y: Array, weights: Array, config: TrainConfig
) -> tuple[Array, Array]:
    """Logistic regression on hashed n-grams by plain SGD, rows visited in a seeded order."""
    rng = np.random.default_rng(config.seed)
    k = y.shape[1]
    w = np.zeros((NGRAM_BUCKETS, k), np.float32)
    b = np.zeros(k, np.float32)
    scale = [1.0 / np.sqrt(max(len(r), 1)) for r in rows]
    for _ in range(config.ngram_epochs):
        for i in rng.permutation(len(rows)):
            ids = rows[i]
            z = w[ids].sum(axis=0) * scale[i] + b
            g = (_sigmoid(z) - y[i]) * weights[i]
            w[ids] -= (config.ngram_lr * scale[i]) * g[None, :]
            b -= 0.1 * config.ngram_lr * g
    return w, b


def fit_linear(
    x: Array, y: npt.NDArray[Any], *, l2: float = 1e-2, steps: int = 300, seed: int = 0
) -> LinearHead:
    """Balanced, L2-regularised logistic regression by full-batch Adam (small data, so it is quick)."""
    y = np.asarray(y, dtype=np.float32)
    pos = max(float(y.sum()), 1.0)
    neg = max(float(len(y) - y.sum()), 1.0)
    sample_w = np.where(y > 0, 0.5 / pos, 0.5 / neg).astype(np.float32)
    rng = np.random.default_rng(seed)
    params = [np.asarray(rng.standard_normal(x.shape[1]) * 0.01, np.float32), np.zeros(1, np.float32)]
    adam = _Adam(params, 0.05)
    for _ in range(steps):
        p = _sigmoid(x @ params[0] + params[1][0])
        g = (p - y) * sample_w
        adam.step([x.T @ g + l2 * params[0], np.array([g.sum()], np.float32)])
    return LinearHead(params[0].astype(np.float32), float(params[1][0]))


class _Adam:
    """Adam (beta 0.9 and 0.999), updating the parameters in place through preallocated buffers: a
    large temporary per step would cost more in fresh pages than its arithmetic. The bias corrections
    are folded into one step size and epsilon, which is the same update."""

    def __init__(self, params: list[npt.NDArray[Any]], lr: float) -> None:
        self.params, self.lr, self.t = params, lr, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.scratch = [np.empty_like(p) for p in params]

    def step(self, grads: list[npt.NDArray[Any]]) -> None:
        self.t += 1
        first, second = 1 - 0.9**self.t, 1 - 0.999**self.t
        size = self.lr * np.sqrt(second) / first
        eps = 1e-8 * np.sqrt(second)
        for p, g, m, v, buf in zip(self.params, grads, self.m, self.v, self.scratch, strict=True):
            m *= 0.9
            np.multiply(g, 0.1, out=buf, casting="same_kind")
            m += buf
            v *= 0.999
            np.multiply(g, g, out=buf, casting="same_kind")
            buf *= 0.001
            v += buf
            np.sqrt(v, out=buf)
            buf += eps
            np.divide(m, buf, out=buf)
            buf *= size
            p -= buf


__all__ = [
    "Heads",
    "LinearHead",
    "TrainConfig",
    "blended",
    "default_blend",
    "fit_blend",
    "fit_heads",
    "fit_linear",
    "fit_mlp",
    "fit_ngrams",
    "fit_projection",
    "ngram_ids",
    "ngram_rows",
    "token_projection",
]
