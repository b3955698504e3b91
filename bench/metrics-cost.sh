#!/usr/bin/env bash
# The cost of metrics on the hot path: manifest GET p50, blob HEAD p50 and 8 parallel raw GETs of a 64 MiB blob
# against this registry with the metrics port off (--metrics-urls '': no middleware, nothing listening to the meter)
# and on (the default: every request timed, counted and its bytes counted), in the same run.
#
# The figure that counts is the PAIRED probe (bench/ab-probe.py): both registries run side by side with the same
# image, and each of AB_ROUNDS rounds measures one then the other, in alternating order (AB_N requests per
# latency figure, one keep-alive connection each; 8 curl GETs at once for throughput). Whatever else the machine
# does falls on both. A scraper reads the "on" registry's /metrics every SCRAPE_S seconds throughout (the IoT
# Edge metrics collector's default is every 300 s). Goal: <= 1.03 for latencies, >= 0.97 for throughput.
#
# With ROUNDS > 0 the shared harness (registry-bench.sh, parallel and latency phases) also runs against one
# registry at a time, OFF-ON rounds interleaved: fresh processes each round, so a round's ratio also carries the
# difference between two process instances (earlier runs: a factor of 2 between rounds), and the in-process
# benchmark (MetricsCostBenchmark) times the middleware alone.
#
#   bench/metrics-cost.sh                      # AB_ROUNDS=30 AB_N=200 SCRAPE_S=1, ROUNDS=0
#
# env: BENCH_DIR (the harness; default ../shared/bench beside the clone), PORT [5311], METRICS_PORT [5312],
#      PORT_ON [5313] (the "on" registry of the paired probe), BASE [a fresh temporary folder, deleted at the end
#      unless KEEP=1], OURS_DLL [this clone, built], AB_ROUNDS, AB_N, SCRAPE_S, ROUNDS, AB_CONTROL=1 (B with its
#      metrics off too: the probe's noise floor), plus the harness's size variables.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BENCH_DIR="${BENCH_DIR:-$ROOT/../shared/bench}"
PORT="${PORT:-5311}"
METRICS_PORT="${METRICS_PORT:-5312}"
ROUNDS="${ROUNDS:-0}"; AB_ROUNDS="${AB_ROUNDS:-30}"; AB_N="${AB_N:-200}"; SCRAPE_S="${SCRAPE_S:-1}"; PORT_ON="${PORT_ON:-5313}"
BASE="${BASE:-$(mktemp -d)}"
export PAR_LAYER_MB="${PAR_LAYER_MB:-128}" LATENCY_N="${LATENCY_N:-400}" SMALL_IMAGES="${SMALL_IMAGES:-5}"
mkdir -p "$BASE"
[[ -x "$BENCH_DIR/registry-bench.sh" ]] || { echo "benchmark harness not found in $BENCH_DIR (set BENCH_DIR)" >&2; exit 1; }

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
build_ours
echo '{}' > "$BASE/desired.json" # without a desired document the registry answers 503 to everything but /v2/

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

push_image() { # PORT: pushes bench/app:v1 (the config and the 64 MiB layer, digests known) there
  upload_blob "$1" bench/app "$BASE/config.json" "$CONFIG_DIGEST" > /dev/null
  upload_blob "$1" bench/app "$BASE/layer.bin" "$LAYER_DIGEST" > /dev/null
  curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$BASE/manifest.json" \
    "http://127.0.0.1:$1/v2/bench/app/manifests/v1" -o /dev/null || die "manifest to $1 failed"
}

# The paired probe: "off" on PORT, "on" on PORT_ON with its metrics on METRICS_PORT, side by side.
echo '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' > "$BASE/config.json"
head -c $((64 * 1024 * 1024)) /dev/urandom > "$BASE/layer.bin"
CONFIG_DIGEST="sha256:$(sha256sum "$BASE/config.json" | cut -d' ' -f1)"; LAYER_DIGEST="sha256:$(sha256sum "$BASE/layer.bin" | cut -d' ' -f1)"
cat > "$BASE/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$CONFIG_DIGEST","size":$(stat -c %s "$BASE/config.json")},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"$LAYER_DIGEST","size":$(stat -c %s "$BASE/layer.bin")}]}
JSON
start_ours() { # NAME PORT METRICS_URLS
  dotnet "$OURS_DLL" --urls "http://127.0.0.1:$2" --metrics-urls "$3" --data "$BASE/$1-data" \
    --desired "$BASE/desired.json" --reported "$BASE/$1-reported.json" --Logging:LogLevel:Default=Warning > "$BASE/$1.log" 2>&1 &
  PIDS+=($!)
  wait_up "$2" "$!" "$BASE/$1.log"
}
# Two orientations, fresh processes each: "on" in the second slot (B), then in the first (A). Two instances side
# by side are not alike (the one started second, its port, where its memory landed: the control shows a few %
# between two "off" instances), so the on/off figure is the geometric mean of on/off over both orientations.
probe() { # ORIENTATION (on-second | on-first) → the probe's table; raw results in $BASE/paired-ORIENTATION.json
  local first_urls="" second_urls="http://127.0.0.1:$METRICS_PORT" on_pid
  [[ "$1" == on-first ]] && { first_urls="http://127.0.0.1:$METRICS_PORT"; second_urls=""; }
  [[ "${AB_CONTROL:-0}" == 1 ]] && { first_urls=""; second_urls=""; } # the control: both off, the noise floor
  rm -rf "$BASE"/ab-*-data
  start_ours ab-first "$PORT" "$first_urls"; [[ -n "$first_urls" ]] && on_pid=${PIDS[-1]}
  start_ours ab-second "$PORT_ON" "$second_urls"; [[ -n "$second_urls" ]] && on_pid=${PIDS[-1]}
  push_image "$PORT"; push_image "$PORT_ON"
  if [[ -n "${on_pid:-}" ]]; then
    ( while kill -0 "$on_pid" 2>/dev/null; do curl -s -o /dev/null "http://127.0.0.1:$METRICS_PORT/metrics" || true; sleep "$SCRAPE_S"; done ) &
    PIDS+=($!)
  fi
  echo "paired probe, metrics $1 (A: port $PORT, B: port $PORT_ON; scraped every $SCRAPE_S s), $AB_ROUNDS rounds of $AB_N requests per latency figure, load $(cut -d' ' -f1 /proc/loadavg)"
  python3 "$ROOT/bench/ab-probe.py" --a "127.0.0.1:$PORT" --b "127.0.0.1:$PORT_ON" --repo bench/app --ref v1 --blob "$LAYER_DIGEST" \
    --rounds "$AB_ROUNDS" --n "$AB_N" --par 8 --json-out "$BASE/paired-$1.json"
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
probe on-second
probe on-first
rm -f "$BASE/layer.bin"
echo "load after: $(cut -d' ' -f1 /proc/loadavg)"
python3 - "$BASE" "${AB_CONTROL:-0}" <<'PY'
import json, math, sys
base, control = sys.argv[1], sys.argv[2] == "1"
second = json.load(open(f"{base}/paired-on-second.json"))  # B/A = on/off
first = json.load(open(f"{base}/paired-on-first.json"))    # B/A = off/on
print("metrics on / off, geometric mean of both orientations" + (" (CONTROL: both off, so this is the noise floor)" if control else "") + ":")
for key in second:
    ratio = math.sqrt(second[key]["ratio"] / first[key]["ratio"])
    rounds = math.sqrt(second[key]["round_ratio_median"] / first[key]["round_ratio_median"])
    goal = "goal >= 0.97" if key.endswith("MBps") else "goal <= 1.03"
    print(f"  {key:22} {ratio:6.3f}  (medians of the rounds; per-round ratios' medians: {rounds:.3f}; {goal})")
PY
[[ "$ROUNDS" -gt 0 ]] || exit 0

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
print(f"{'figure':30} {'metrics off':>12} {'metrics on':>12} {'on/off':>8} {'rounds':>15}")
for k in keys:
    pairs = [(o[k]["median"], n[k]["median"]) for o, n in zip(off, on) if k in o and k in n]
    if not pairs:
        continue
    o = statistics.median(p[0] for p in pairs)
    n = statistics.median(p[1] for p in pairs)
    ratios = [b / a for a, b in pairs]
    print(f"{k:30} {o:12.3f} {n:12.3f} {n / o:8.3f} {min(ratios):7.3f}-{max(ratios):.3f}")
PY

# The CPU cost per request in process, without sockets, clients or the harness (still wall time on a shared machine):
# the same handler bare and behind the request metrics (tests/…/Monitoring/MetricsCostBenchmark.cs, Category=Benchmark, which the test suite leaves out).
dotnet build tests/ConnectedRegistry.IntegrationTests -c Release -nologo -v quiet >/dev/null
METRICS_BENCH_OUT="$BASE/in-process.jsonl" dotnet test tests/ConnectedRegistry.IntegrationTests -c Release --no-build -nologo \
  --filter "FullyQualifiedName~MetricsCostBenchmark" >/dev/null || die "the in-process benchmark failed"
echo "in process, ns per request (median of 7 interleaved rounds): $(cat "$BASE/in-process.jsonl")"
