from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from redline.errors import ModelError
from redline.heads import (
    NGRAM_BUCKETS,
    Heads,
    TrainConfig,
    blended,
    default_blend,
    fit_blend,
    fit_heads,
    fit_projection,
    ngram_ids,
    ngram_rows,
)


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


def test_a_batch_of_texts_hashes_as_each_text_alone() -> None:
    texts = ["Kill the process", "ab", "", "日本語のテキスト", "kill THE   process"]
    owner, buckets = ngram_rows(texts)
    for i, text in enumerate(texts):
        assert np.array_equal(buckets[owner == i], ngram_ids(text))  # no n-gram spans two texts
    assert np.array_equal(ngram_ids(texts[0]), ngram_ids(texts[4]))  # case and spacing do not count
    assert len(ngram_ids("ab")) == 6  # " a", "ab", "b ", " ab", "ab ", " ab "
    assert len(ngram_ids("")) == 1 and ngram_ids("").max() < NGRAM_BUCKETS  # the lone "  " bigram


def test_ngram_logits_of_a_batch_match_one_text_at_a_time() -> None:
    rng = np.random.default_rng(3)
    heads = Heads(
        clause_ids=("A", "B"),
        encoder="test",
        w1=np.zeros((1, 4, 3), np.float32),
        b1=np.zeros((1, 3), np.float32),
        w2=np.zeros((1, 3, 2), np.float32),
        b2=np.zeros((1, 2), np.float32),
        ngram_w=rng.normal(0, 1, (NGRAM_BUCKETS, 2)).astype(np.float32),
        ngram_b=np.array([0.5, -0.5], np.float32),
    )
    texts = ["surveil every protester", "a", "le drone tire sans validation humaine", "日本"]
    together = heads.ngram_logits(texts)
    for i, text in enumerate(texts):
        ids = ngram_ids(text)
        alone = heads.ngram_w[ids].sum(axis=0) / np.sqrt(len(ids)) + heads.ngram_b
        assert np.allclose(together[i], alone, atol=1e-5)


def test_the_blend_leans_on_the_kind_that_decides() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    mlp = rng.normal(1, 2, (n, 1)).astype(np.float32)
    ngram = rng.normal(0, 1, (n, 1)).astype(np.float32)
    approver = rng.normal(0, 3, (n, 1)).astype(np.float32)  # the logit of "a named human approves"
    noise = rng.normal(0, 3, (n, 1)).astype(np.float32)
    kinds = np.concatenate([approver, noise], axis=1)
    # Red only where the networks say so and no human approves: the twins the clause score blurs.
    y = ((mlp > 0) & (approver < 0)).astype(np.float32)
    covered = np.zeros(n, bool)
    blend = fit_blend(mlp, ngram, y, covered, kinds)
    assert blend.shape == (2, 1, 5)
    assert blend[0, 0, 2] < -0.5  # the approver kind pulls the score down
    assert abs(blend[0, 0, 3]) < 0.3 * abs(blend[0, 0, 2])  # the noise kind barely counts
    with_kinds = blended(blend, mlp, ngram, covered, kinds)[:, 0] > 0
    without = blended(fit_blend(mlp, ngram, y, covered), mlp, ngram, covered)[:, 0] > 0
    assert (with_kinds == (y[:, 0] > 0)).mean() > (without == (y[:, 0] > 0)).mean() + 0.1
    with pytest.raises(ModelError, match="weighs 2 kinds"):
        blended(blend, mlp, ngram, covered)


def test_the_projection_whitens_the_finer_features_and_survives_a_save(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    # Finer features with wildly different scales: ten columns share one factor, which carries the label.
    signal = rng.normal(0, 1, (600, 1)).astype(np.float32)
    shared = signal * np.geomspace(0.01, 100.0, 10) * (1 + 0.1 * rng.normal(0, 1, (600, 10)))
    features = np.concatenate([shared, rng.normal(0, 1, (600, 22))], axis=1).astype(np.float32)
    w, b = fit_projection(features, 8)
    projected = features @ w + b
    assert np.allclose(projected.mean(axis=0), 0.0, atol=1e-3)
    assert np.allclose(projected.std(axis=0), 0.05, rtol=0.2)  # every component near the sentence scale
    sentence = rng.normal(0, 0.04, (600, 4)).astype(np.float32)
    x = np.concatenate([sentence, features], axis=1)
    y = (signal[:, :1] > 0).astype(np.float32)
    config = TrainConfig(hidden=8, members=1, epochs=60, ngram_epochs=1, token_components=8)
    texts = ["t"] * len(x)
    heads = fit_heads(x, texts, y, np.ones(len(x), np.float32), ("A",), "test", config, sentence_dim=4)
    assert heads.token_w is not None and heads.token_w.shape == (features.shape[1], 8)
    assert heads.w1.shape[1] == 4 + 8  # the networks read the sentence vector and the components
    scores = heads.scores(x, texts)[:, 0]
    assert ((scores > 0.5) == (y[:, 0] > 0)).mean() > 0.9  # the label lives only in the finer features
    heads.save(tmp_path / "heads.npz")
    again = Heads.load(tmp_path / "heads.npz")
    assert np.allclose(again.scores(x, texts), heads.scores(x, texts), atol=1e-6)
