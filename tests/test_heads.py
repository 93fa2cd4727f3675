from __future__ import annotations

import numpy as np

from redline.heads import Heads, default_blend, fit_blend


def test_the_blend_learns_which_view_to_trust_in_each_group() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    mlp = rng.normal(0, 2, (n, 1)).astype(np.float32)
    ngram = rng.normal(0, 2, (n, 1)).astype(np.float32)
    uncovered = np.arange(n) % 2 == 1
    # Where the encoder knows the language the label follows the networks; elsewhere the n-grams.
    y = np.where(uncovered[:, None], ngram > 0, mlp > 0).astype(np.float32)
    blend = fit_blend(mlp, ngram, y, uncovered)
    assert blend.shape == (2, 1, 3)
    assert blend[0, 0, 0] > 2 * blend[0, 0, 1]
    assert blend[1, 0, 1] > 2 * blend[1, 0, 0]


def test_logits_use_each_texts_group() -> None:
    d, hidden = 4, 3
    zeros = np.zeros
    heads = Heads(
        clause_ids=("A",),
        encoder="test",
        w1=zeros((1, d, hidden), np.float32),
        b1=zeros((1, hidden), np.float32),
        w2=zeros((1, hidden, 1), np.float32),
        b2=zeros((1, 1), np.float32),
        ngram_w=zeros((1 << 18, 1), np.float32),
        ngram_b=np.array([1.0], np.float32),
        blend=np.array([[[1.0, 1.0, 0.0]], [[1.0, 3.0, -1.0]]], np.float32),
    )
    x = zeros((2, d), np.float32)

    def logits(uncovered: np.ndarray | None = None) -> np.ndarray:
        p = heads.scores(x, ["a", "b"], uncovered)
        return np.log(p / (1 - p))

    # the networks say 0 (p = 0.5) and the n-grams say 1 (their bias) for both texts
    assert np.allclose(logits(np.array([False, True]))[:, 0], [1.0, 3.0 - 1.0], atol=1e-4)
    assert np.allclose(logits()[:, 0], [1.0, 1.0], atol=1e-4)  # no flags: covered
    assert np.array_equal(default_blend(1, 0.5)[1, 0], [1.0, 0.5, 0.0])
