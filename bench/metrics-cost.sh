#!/usr/bin/env bash
# The cost of metrics on the hot path: the shared harness's latency probe (manifest GET p50/p99, blob HEAD)
# and 8 parallel raw GETs (plus 8 parallel skopeo pulls) against this registry with the metrics port off
# (--metrics-urls '': no middleware, nothing listening to the meter) and on (the default: every request timed,
# counted and its bytes counted), one after the other in the same run, OFF-ON-OFF-ON so that drift of a
# shared machine falls on both sides. A scraper reads /metrics every second while metrics are on, as the
# IoT Edge metrics collector would (more often than its default). Prints the ratios on/off (goal: <= 1.03
# for latencies, >= 0.97 for throughput).
#
#   bench/metrics-cost.sh                      # defaults: PAR_LAYER_MB=128, LATENCY_N=400, REPEAT=3, ROUNDS=2
#
# env: BENCH_DIR (the harness; default ../shared/bench beside the clone), PORT [5311], METRICS_PORT [5312],
#      BASE [a fresh temporary folder, deleted at the end unless KEEP=1], OURS_DLL [this clone, built], ROUNDS,
#      plus the harness's size variables.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BENCH_DIR="${BENCH_DIR:-$ROOT/../shared/bench}"
PORT="${PORT:-5311}"
METRICS_PORT="${METRICS_PORT:-5312}"
ROUNDS="${ROUNDS:-2}"
BASE="${BASE:-$(mktemp -d)}"
export PAR_LAYER_MB="${PAR_LAYER_MB:-128}" LATENCY_N="${LATENCY_N:-400}" SMALL_IMAGES="${SMALL_IMAGES:-5}"
mkdir -p "$BASE"
[[ -x "$BENCH_DIR/registry-bench.sh" ]] || { echo "benchmark harness not found in $BENCH_DIR (set BENCH_DIR)" >&2; exit 1; }

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
build_ours

run_one() { # NAME METRICS_URLS
  local name=$1 urls=$2
  rm -rf "$BASE/$name-data"
  dotnet "$OURS_DLL" --urls "http://127.0.0.1:$PORT" --metrics-urls "$urls" --data "$BASE/$name-data" \
    --desired "$BASE/desired.json" --reported "$BASE/reported.json" --Logging:LogLevel:Default=Warning > "$BASE/$name.log" 2>&1 &
  local pid=$! scraper=""
  PIDS+=("$pid")
  wait_up "$PORT" "$pid" "$BASE/$name.log"
  if [[ -n "$urls" ]]; then
    ( while kill -0 "$pid" 2>/dev/null; do curl -s -o /dev/null "$urls/metrics" || true; sleep 1; done ) &
    scraper=$!
  fi
  "$BENCH_DIR/registry-bench.sh" "127.0.0.1:$PORT" --pid "$pid" --phases parallel,latency \
    --label "$name" --json-out "$BASE/$name.json" > "$BASE/$name.txt"
  [[ -n "$urls" ]] && curl -s "$urls/metrics" > "$BASE/$name.metrics"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  if [[ -n "$scraper" ]]; then kill "$scraper" 2>/dev/null || true; wait "$scraper" 2>/dev/null || true; fi
}

for round in $(seq 1 "$ROUNDS"); do
  run_one "off-$round" ""
  run_one "on-$round" "http://127.0.0.1:$METRICS_PORT"
done

python3 - "$BASE" "$ROUNDS" <<'PY'
import json, statistics, sys
base, rounds = sys.argv[1], int(sys.argv[2])
def load(name):
    return json.load(open(f"{base}/{name}.json"))["metrics"]
off = [load(f"off-{r}") for r in range(1, rounds + 1)]
on = [load(f"on-{r}") for r in range(1, rounds + 1)]
keys = ["manifest_get_ms_p50", "manifest_get_ms_p99", "blob_head_ms_p50", "par_raw_get_aggregate_MBps", "par_pull_aggregate_MBps"]
print(f"{'figure':30} {'metrics off':>12} {'metrics on':>12} {'on/off':>8}")
for k in keys:
    o = statistics.median(m[k]["median"] for m in off if k in m)
    n = statistics.median(m[k]["median"] for m in on if k in m)
    print(f"{k:30} {o:12.3f} {n:12.3f} {n / o:8.3f}")
PY
