from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from redline import CorpusError, Screen
from redline.corpus import disguised, load_corpus, long_documents
from redline.heads import Heads, TrainConfig
from redline.train import train, write

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sixty items of the shipped corpus, in two languages, labels mixed."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "raw").mkdir()
    for lang in ("en", "de"):
        lines = (ROOT / "corpus" / "raw" / f"{lang}.jsonl").read_text("utf-8").splitlines()
        (root / "raw" / f"{lang}.jsonl").write_text("\n".join(lines[:30]) + "\n", "utf-8")
    return root


def test_training_is_reproducible(small_corpus: Path, screen: Screen, tmp_path: Path) -> None:
    config = TrainConfig(hidden=16, members=1, epochs=3, ngram_epochs=1)
    first = train(small_corpus, screen.encoder, config)
    second = train(small_corpus, screen.encoder, config)
    for name in ("w1", "b1", "w2", "b2", "ngram_b", "blend"):
        assert np.array_equal(getattr(first.heads, name), getattr(second.heads, name)), name
    assert first.heads.meta == second.heads.meta
    paths = write(first, tmp_path)
    loaded = Heads.load(paths[0])
    assert np.array_equal(loaded.w1, first.heads.w1)
    assert np.array_equal(loaded.ngram_w, first.heads.ngram_w)
    assert np.array_equal(loaded.blend, first.heads.blend)  # type: ignore[arg-type]
    assert loaded.aux_ids == first.heads.aux_ids and loaded.aux_ids
    assert loaded.meta["corpus_sha256"] == first.heads.meta["corpus_sha256"]
    assert json.loads(paths[1].read_text())  # the background texts


def test_split_keeps_groups_together() -> None:
    items = load_corpus(ROOT / "corpus")
    for _, members in itertools.groupby(sorted(items, key=lambda i: i.group), key=lambda i: i.group):
        assert len({m.split for m in members}) == 1
    dev = [i for i in items if i.split == "dev"]
    assert 0.1 < len(dev) / len(items) < 0.3


def test_made_evaluation_items_keep_their_labels() -> None:
    items = [i for i in load_corpus(ROOT / "corpus") if i.split == "dev"][:300]
    for item in disguised(items):
        assert item.kind.startswith("disguise:")
        assert item.label == next(i.label for i in items if i.id == item.id.split("~")[0])
    made = long_documents(items)
    assert {i.kind for i in made} <= {"long:buried", "long:article"}
    assert all(len(i.text) > 300 for i in made)


def test_malformed_corpus_line_is_named(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "xx.jsonl").write_text('{"id": "a", "lang": "en"}\n')
    with pytest.raises(CorpusError, match=r"xx.jsonl, line 1"):
        load_corpus(tmp_path)


def test_corrupt_heads_file_is_a_model_error(tmp_path: Path) -> None:
    from redline import ModelError

    bad = tmp_path / "heads.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="corrupt"):
        Heads.load(bad)
    with pytest.raises(ModelError, match="redline train"):
        Heads.load(tmp_path / "missing.npz")


def test_the_false_positive_budget_is_spent_once_across_clauses_where_it_catches_most() -> None:
    from redline.train import _share_budget

    rng = np.random.default_rng(1)
    lawful = rng.normal(-3.0, 1.0, (2000, 2)).astype(np.float32)
    # Clause 0's red-line items sit just above its lawful tail; clause 1's are far out of reach.
    red = np.stack([rng.normal(-0.5, 0.5, 500), rng.normal(-9.0, 0.5, 500)], axis=1).astype(np.float32)
    shifts = _share_budget(lawful, red, 0.03)
    spent = float(((lawful + shifts) > 0).any(axis=1).mean())
    assert 0.02 <= spent <= 0.03  # the union of both clauses' false positives, not each clause's
    assert shifts[0] > shifts[1]  # the budget goes where it buys recall
    assert _share_budget(lawful[:0], red, 0.03) == [0.0, 0.0]
