"""The zero-shot baseline the screen is measured against: the same encoder, no training.

Each sentence of POLICY.md's lists is a prototype of its section: the "It includes" bullets of RL-SURV
and RL-AUTO are red-line prototypes, the "It does not include" bullets are lawful ones. A text takes the
label of its nearest prototype (cosine similarity of USE v3 vectors).

    .venv/bin/python benchmarks/zero_shot.py --policy ../shared/POLICY.md --jsonl eval/holdout.jsonl

prints the same report as ``redline eval`` for the baseline, so the two can be read side by side.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from redline.encoder import UseEncoder
from redline.evaluate import Report, Scored
from redline.language import detect
from redline.normalize import normalize


def prototypes(policy: str) -> list[tuple[str, str]]:
    """(label, sentence) for every bullet of the two clauses' include / exclude lists."""
    out: list[tuple[str, str]] = []
    for clause in ("RL-SURV", "RL-AUTO"):
        section = policy.split(f"## {clause}", 1)[1].split("\n## ", 1)[0]
        includes, _, excludes = section.partition("It does **not** include")
        for label, part in ((clause, includes), ("allowed", excludes)):
            for bullet in re.findall(r"^- (.+?)(?=\n- |\n\n|\Z)", part, flags=re.M | re.S):
                out.append((label, " ".join(bullet.split())))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--policy", type=Path, default=Path("../shared/POLICY.md"))
    parser.add_argument("--jsonl", type=Path, default=Path("eval/holdout.jsonl"))
    args = parser.parse_args()
    protos = prototypes(args.policy.read_text("utf-8"))
    encoder = UseEncoder()
    vector = slice(0, encoder.sentence_dim)  # the sentence vector, not the finer features after it
    proto_vectors = encoder.encode([sentence for _, sentence in protos])[:, vector]
    labels = [label for label, _ in protos]
    rows = [json.loads(line) for line in args.jsonl.open(encoding="utf-8") if line.strip()]
    texts = [normalize(r["text"]).text or r["text"] for r in rows]
    sims = encoder.encode(texts)[:, vector] @ proto_vectors.T
    scored = []
    for row, text, sim in zip(rows, texts, sims, strict=True):
        best = int(np.argmax(sim))
        scores = {
            c: float(max(0.0, sim[[i for i, lab in enumerate(labels) if lab == c]].max()))
            for c in ("RL-SURV", "RL-AUTO")
        }
        scored.append(
            Scored(
                row["label"], labels[best], scores, row.get("lang") or detect(text).code, row.get("kind", "-")
            )
        )
    print(f"zero-shot baseline: {len(protos)} POLICY.md prototypes, nearest one decides")
    print(Report(scored).to_text())


if __name__ == "__main__":
    main()
