"""``redline train``: rebuild the shipped heads from the corpus, reproducibly.

What the heads learn from, per training item: its whole text (normalised as the screen will see it),
and for a lawful text of several sentences also each sentence and each pair of sentences, labelled
lawful too — because the screen scores those windows on their own, a sentence of a news report *about*
surveillance must learn to stay lawful out of context. Windows of a red-line text are not used alone:
only some of its sentences carry the ask.

The decision threshold lives in the contract (0.5 by default). After fitting, each clause's output bias
is shifted so that, on out-of-fold scores of the training split, the hard lawful cases (the ``neg:*``
kinds) cross 0.5 at the rate ``target_fpr``: the heads are calibrated without looking at the dev split.
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
from redline.heads import Heads, TrainConfig, fit_heads
from redline.normalize import normalize
from redline.screen import windows_of

WINDOW_WEIGHT = 0.5
FOLDS = 4
BACKGROUND_ITEMS = 160


@dataclass(frozen=True)
class TrainResult:
    heads: Heads
    examples: int
    items: int
    background: list[str]
    shifts: dict[str, float]


AUX_KINDS = (
    "neg:foreign-intel",
    "neg:warrant",
    "neg:aggregate",
    "neg:own-network",
    "neg:discussion",
    "neg:summary",
    "neg:privacy",
    "neg:military-support",
    "neg:human-decision",
    "neg:interception",
    "neg:nonforce-autonomy",
    "everyday",
    "homonym",
    "surv:disguised",
    "surv:technical",
    "auto:disguised",
    "auto:technical",
)


def aux_targets(items: list[Item], owners: list[int]) -> np.ndarray[Any, Any]:
    """One column per kind in AUX_KINDS: the auxiliary targets that shape the hidden layer."""
    return np.array([[items[o].kind == kind for kind in AUX_KINDS] for o in owners], np.float32)


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
            # Every sentence, however short the item: inside a long document it is scored alone.
            for window in windows_of(text, short=0):
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
    target_fpr: float = 0.03,
) -> TrainResult:
    config = config or TrainConfig()
    items = [item for item in load_corpus(corpus_dir) if item.split == "train"]
    texts, y, w, owners = training_examples(items)
    x = encoder.encode(texts)
    aux = aux_targets(items, owners)

    # Out-of-fold scores of whole items, to calibrate the output bias without touching dev.
    folds = np.array([hash_group(items[o].group) % FOLDS for o in owners])
    whole = np.array([i == 0 or owners[i - 1] != owners[i] for i in range(len(owners))])
    oof = np.zeros_like(y)
    fold_config = replace(config, members=2)
    for fold in range(FOLDS):
        held = folds == fold
        kept = [t for t, h in zip(texts, held, strict=True) if not h]
        heads = fit_heads(
            x[~held], kept, y[~held], w[~held], BUILTIN_CLAUSES, encoder.name, fold_config, aux=aux[~held]
        )
        oof[held] = heads.logits(x[held], [t for t, h in zip(texts, held, strict=True) if h])
    hard = np.array([items[o].kind.startswith("neg:") for o in owners]) & whole
    # The shift puts the hard lawful texts' (1 - target_fpr) quantile at logit 0, i.e. at the contract's
    # default threshold of 0.5; it only ever raises the bar, since the out-of-fold models are weaker
    # than the final one and would otherwise talk it into lowering it.
    shifts = {
        clause: round(min(0.0, -float(np.quantile(oof[hard, column], 1 - target_fpr))), 4)
        for column, clause in enumerate(BUILTIN_CLAUSES)
    }
    meta = {
        "corpus_sha256": corpus_hash(items),
        "train_items": len(items),
        "examples": len(texts),
        "labels": dict(Counter(item.label for item in items)),
        "config": asdict(config),
        "target_fpr": target_fpr,
        "bias_shift": shifts,
    }
    heads = fit_heads(x, texts, y, w, BUILTIN_CLAUSES, encoder.name, config, meta, aux=aux)
    heads = replace(heads, bias=np.array([shifts[c] for c in BUILTIN_CLAUSES], np.float32))
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
