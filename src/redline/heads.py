"""Heads: small numpy models that turn sentence vectors into one score per clause.

:class:`MlpHeads` is what ships for the built-in clauses: an ensemble of one-hidden-layer networks with
one sigmoid output per clause (a text can cross both lines at once), trained by :func:`fit_mlp`.
:class:`LinearHead` scores a contract's own clause from its examples (:func:`fit_linear`): a few dozen
texts are enough because the encoder already places meaning; the encoder itself is never retrained.

Everything here is deterministic for a given seed, so ``redline train`` rebuilds the shipped file
bit for bit from the corpus.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from redline.errors import ModelError

Array = npt.NDArray[np.float32]


def _sigmoid(z: npt.NDArray[Any]) -> npt.NDArray[Any]:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


@dataclass(frozen=True)
class MlpHeads:
    """An ensemble of MLPs: ``x (n, d) -> scores (n, len(clause_ids))`` in [0, 1]."""

    clause_ids: tuple[str, ...]
    encoder: str
    w1: Array  # (members, d, hidden)
    b1: Array  # (members, hidden)
    w2: Array  # (members, hidden, clauses)
    b2: Array  # (members, clauses)
    meta: dict[str, Any] = field(default_factory=dict)

    def scores(self, x: Array) -> Array:
        hidden = np.maximum(np.einsum("nd,mdh->mnh", x, self.w1) + self.b1[:, None, :], 0.0)
        logits = np.einsum("mnh,mhk->mnk", hidden, self.w2) + self.b2[:, None, :]
        return np.asarray(_sigmoid(logits).mean(axis=0), dtype=np.float32)

    def save(self, path: str | Path) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            w1=self.w1,
            b1=self.b1,
            w2=self.w2,
            b2=self.b2,
            header=np.frombuffer(
                json.dumps(
                    {"clause_ids": list(self.clause_ids), "encoder": self.encoder, "meta": self.meta},
                    sort_keys=True,
                ).encode(),
                dtype=np.uint8,
            ),
        )
        Path(path).write_bytes(buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> MlpHeads:
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(z["header"].tobytes().decode())
                return cls(
                    clause_ids=tuple(header["clause_ids"]),
                    encoder=header["encoder"],
                    w1=z["w1"],
                    b1=z["b1"],
                    w2=z["w2"],
                    b2=z["b2"],
                    meta=header.get("meta", {}),
                )
        except FileNotFoundError:
            raise ModelError(f"no heads file at {path}; run 'redline train' to build it") from None
        except (KeyError, ValueError, OSError) as exc:
            raise ModelError(f"heads file {path} is corrupt: {exc}") from None


@dataclass(frozen=True)
class LinearHead:
    """Logistic regression on sentence vectors, for one clause defined by examples."""

    w: Array  # (d,)
    b: float

    def scores(self, x: Array) -> Array:
        return np.asarray(_sigmoid(x @ self.w + self.b), dtype=np.float32)


@dataclass(frozen=True)
class TrainConfig:
    hidden: int = 128
    members: int = 5
    epochs: int = 40
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    input_noise: float = 0.02
    seed: int = 7


def fit_mlp(
    x: Array,
    y: Array,
    weights: Array,
    clause_ids: tuple[str, ...],
    encoder: str,
    config: TrainConfig | None = None,
    meta: dict[str, Any] | None = None,
) -> MlpHeads:
    """Fit ``config.members`` MLPs with sigmoid cross-entropy; ``y`` is (n, clauses) in {0, 1}."""
    config = config or TrainConfig()
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
    return MlpHeads(clause_ids, encoder, w1, b1, w2, b2, meta or {})


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
    def __init__(self, params: list[npt.NDArray[Any]], lr: float) -> None:
        self.params, self.lr, self.t = params, lr, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads: list[npt.NDArray[Any]]) -> None:
        self.t += 1
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            m_hat = m / (1 - 0.9**self.t)
            v_hat = v / (1 - 0.999**self.t)
            p -= (self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)).astype(p.dtype)


__all__ = ["LinearHead", "MlpHeads", "TrainConfig", "fit_linear", "fit_mlp"]
