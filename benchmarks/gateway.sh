#!/usr/bin/env bash
# Gateway overhead: Redline next to LiteLLM's proxy and Portkey's gateway, in one run, with the shared
# harness (../shared/bench/gateway-overhead: mock upstream on 127.0.0.1:18000, wrk, CPU pinning).
#
#   benchmarks/gateway.sh [bench.py options]   e.g. --rounds 3   or   --duration 5 --warmup 2 --rounds 1
#
# Two Redline targets: "redline" is the gateway as shipped; the harness sends one fixed body, so its texts
# are screened once and then come from the screen's cache (repeated system prompts and tool schemas are
# not screened twice). "redline-cold" is a second gateway with the cache off (REDLINE_SCREEN_CACHE=0), so
# every request and every answer is screened from scratch: the cost of a text never seen before.
# Results go to benchmarks/results/gateway-<date>/.
set -euo pipefail
cd "$(dirname "$0")/.."
HARNESS="${HARNESS:-../shared/bench/gateway-overhead}"
"$HARNESS/setup.sh" >/dev/null
scripts/bootstrap
OUT="$PWD/benchmarks/results/gateway-$(date -u +%Y-%m-%d)"
mkdir -p "$OUT"
DB="$(mktemp -d)/bench.db"
# The default tenant allows 1,000 requests/s; the load here goes past that, and 429s are not what is measured.
export OPENAI_BASE_URL=http://127.0.0.1:18000/v1 OPENAI_API_KEY=sk-mock REDLINE_API_KEY=bench-key REDLINE_DB="$DB" \
  REDLINE_RATE_LIMIT=1000000
taskset -c 1 .venv/bin/redline serve --host 127.0.0.1 --port 9000 --log-level error & GW=$!
REDLINE_SCREEN_CACHE=0 REDLINE_DB="$DB.cold" taskset -c 1 .venv/bin/redline serve --host 127.0.0.1 --port 9001 \
  --log-level error & COLD=$!
trap 'kill $GW $COLD 2>/dev/null || true' EXIT
for port in 9000 9001; do
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
done
python3 "$HARNESS/bench.py" --targets direct,litellm,portkey,redline,redline-cold \
  --custom redline=http://127.0.0.1:9000/v1/chat/completions --custom-pid "redline=$GW" --custom-key redline=bench-key \
  --custom redline-cold=http://127.0.0.1:9001/v1/chat/completions --custom-pid "redline-cold=$COLD" \
  --custom-key redline-cold=bench-key --out "$OUT" "$@"
.venv/bin/redline audit verify --db "$DB"
.venv/bin/redline audit verify --db "$DB.cold"
