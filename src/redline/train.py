"""``redline train``: rebuild the shipped heads from the corpus, reproducibly.

What the heads learn from, per training item: its whole text (normalised as the screen will see it),
and for a lawful text of several sentences also each sentence and each pair of sentences, labelled
lawful too — because the screen scores those windows on their own, a sentence of a news report *about*
surveillance must learn to stay lawful out of context. Windows of a red-line text are not used alone:
only some of its sentences carry the ask.

The decision threshold lives in the contract (0.5 by default). After fitting, each clause's output bias
is shifted so that, on out-of-fold scores of the training split, lawful texts cross 0.5 at most at the
rate ``TrainConfig``'s target allows: the heads are calibrated without looking at the dev split.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from redline.contract import ALLOWED, BUILTIN_CLAUSES
from redline.corpus import Item, corpus_hash, load_corpus
from redline.encoder import Encoder
from redline.heads import MlpHeads, TrainConfig, fit_mlp
from redline.normalize import normalize
from redline.screen import windows_of

WINDOW_WEIGHT = 0.5
FOLDS = 4
BACKGROUND_ITEMS = 160


@dataclass(frozen=True)
class TrainResult:
    heads: MlpHeads
    examples: int
    items: int
    background: list[str]
    shifts: dict[str, float]


def training_examples(
    items: list[Item],
) -> tuple[list[str], np.ndarray[Any, Any], np.ndarray[Any, Any], list[int]]:
    """Texts, labels (n, clauses), weights and, for each text, the index of the item it came from."""
    texts: list[str] = []
    labels: list[list[float]] = []
    weights: list[float] = []
    owners: list[int] = []
    for index, item in enumerate(items):
        text = normalize(item.text).text
        target = [1.0 if item.label == clause else 0.0 for clause in BUILTIN_CLAUSES]
        texts.append(text)
        labels.append(target)
        weights.append(1.0)
        owners.append(index)
        if item.label == ALLOWED:
            for window in windows_of(text):
                if window != text:
                    texts.append(window)
                    labels.append(target)
                    weights.append(WINDOW_WEIGHT)
                    owners.append(index)
    return texts, np.array(labels, np.float32), np.array(weights, np.float32), owners


def train(
    corpus_dir: str | Path,
    encoder: Encoder,
    config: TrainConfig | None = None,
    *,
    target_fpr: float = 0.015,
) -> TrainResult:
    config = config or TrainConfig()
    items = [item for item in load_corpus(corpus_dir) if item.split == "train"]
    texts, y, w, owners = training_examples(items)
    x = encoder.encode(texts)

    # Out-of-fold scores of whole items, to calibrate the output bias without touching dev.
    groups = np.array([hash_group(items[o].group) % FOLDS for o in owners])
    whole = np.array([i == 0 or owners[i - 1] != owners[i] for i in range(len(owners))])
    oof = np.zeros_like(y)
    fold_config = replace(config, members=2)
    for fold in range(FOLDS):
        held = groups == fold
        heads = fit_mlp(x[~held], y[~held], w[~held], BUILTIN_CLAUSES, encoder.name, fold_config)
        oof[held] = heads.scores(x[held])
    shifts = {}
    lawful = (y.sum(axis=1) == 0) & whole
    for column, clause in enumerate(BUILTIN_CLAUSES):
        logits = np.log(
            np.clip(oof[lawful, column], 1e-6, 1 - 1e-6) / np.clip(1 - oof[lawful, column], 1e-6, 1)
        )
        cut = float(np.quantile(logits, 1 - target_fpr))
        shifts[clause] = round(min(0.0, -cut), 4)  # only ever raise the bar, never lower it

    meta = {
        "corpus_sha256": corpus_hash(items),
        "train_items": len(items),
        "examples": len(texts),
        "labels": dict(Counter(item.label for item in items)),
        "config": asdict(config),
        "target_fpr": target_fpr,
        "bias_shift": shifts,
    }
    heads = fit_mlp(x, y, w, BUILTIN_CLAUSES, encoder.name, config, meta)
    b2 = heads.b2 + np.array([shifts[c] for c in BUILTIN_CLAUSES], np.float32)
    heads = replace(heads, b2=b2.astype(np.float32))
    return TrainResult(heads, len(texts), len(items), background(items), shifts)


def hash_group(group: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(group.encode()).digest()[1:3], "big")


def background(items: list[Item]) -> list[str]:
    """A fixed sample of everyday lawful texts, the negatives every contract-defined clause learns against."""
    pool = sorted((i for i in items if i.kind in ("everyday", "homonym")), key=lambda i: i.id)
    step = max(1, len(pool) // BACKGROUND_ITEMS)
    return [i.text for i in pool[::step]][:BACKGROUND_ITEMS]


def write(result: TrainResult, out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    heads_path, background_path = out / "heads.npz", out / "background.json"
    result.heads.save(heads_path)
    background_path.write_text(json.dumps(result.background, ensure_ascii=False, indent=0) + "\n", "utf-8")
    return [heads_path, background_path]


__all__ = ["TrainResult", "background", "train", "training_examples", "write"]
