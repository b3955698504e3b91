#!/usr/bin/env bash
# On-demand pull-through through two levels against a direct pull from the top, in the same run:
# docker-registry A (the top) → this module M1 (parent A) → this module M2 (parent M1), both with a schedule that
# never opens, so M2 and M1 hold nothing until a client asks. For each of REPEAT fresh layers of LAYER_MB MiB:
# GET the blob from A directly (the anchor), then GET it from M2 (a miss at M2, then at M1, fetched from A and
# streamed down both levels while stored). curl gives the time to first byte and the total time; ratios are
# ours / direct. Loopback only.
#
#   bench/ondemand-compare.sh              # LAYER_MB=64 REPEAT=3
#
# env: LAYER_MB [64], REPEAT [3], PORT_A [5320], PORT_M1 [5321], PORT_M2 [5322], BASE [a fresh temporary folder, deleted at the end unless KEEP=1], OURS_DLL [this clone, built]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
LAYER_MB="${LAYER_MB:-64}"; REPEAT="${REPEAT:-3}"
PORT_A="${PORT_A:-5320}"; PORT_M1="${PORT_M1:-5321}"; PORT_M2="${PORT_M2:-5322}"
BASE="${BASE:-$(mktemp -d)}"
mkdir -p "$BASE"
command -v docker-registry >/dev/null || { echo "apt-get install docker-registry" >&2; exit 1; }

LIMIT_S="${LIMIT_S:-1800}"
BENCH_NAME=ondemand-compare
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

build_ours

start_distribution a "$PORT_A"

start_module() { # NAME PORT PARENT_PORT
  mkdir -p "$BASE/$1"
  cat > "$BASE/$1/desired.json" <<JSON
{ "schemaVersion": "1.0", "name": "bench$1", "mode": "ReadOnly",
  "parent": { "endpoint": "http://127.0.0.1:$3" },
  "sync": { "schedule": "0 0 30 2 *", "window": "PT1H", "repositories": ["bench/*"] } }
JSON
  dotnet "$OURS_DLL" --urls "http://127.0.0.1:$2" --data "$BASE/$1/data" \
    --desired "$BASE/$1/desired.json" --reported "$BASE/$1/reported.json" \
    --Logging:LogLevel:Default=Warning > "$BASE/$1.log" 2>&1 &
  PIDS+=($!)
  wait_up "$2" "$!" "$BASE/$1.log"
}
start_module m1 "$PORT_M1" "$PORT_A"
start_module m2 "$PORT_M2" "$PORT_M1"

push_blob() { # FILE → prints the digest, after uploading it to A's bench/big
  local digest="sha256:$(sha256sum "$1" | cut -d' ' -f1)"
  local location
  location=$(curl -s -D - -o /dev/null -X POST "http://127.0.0.1:$PORT_A/v2/bench/big/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:" {print $2}')
  [[ "$location" == http* ]] || location="http://127.0.0.1:$PORT_A$location"
  local sep='?'; [[ "$location" == *\?* ]] && sep='&'
  curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$1" "$location${sep}digest=$digest" -o /dev/null || die "upload to A failed"
  echo "$digest"
}

timed_get() { # URL → "ttfb total" in seconds; checks the bytes against the digest at the end of the URL
  local out="$BASE/got.bin" times
  times=$(curl -sf -o "$out" -w '%{time_starttransfer} %{time_total}' "$1") || die "GET $1 failed"
  [[ "sha256:$(sha256sum "$out" | cut -d' ' -f1)" == "${1##*/}" ]] || die "GET $1 returned other bytes"
  rm -f "$out"
  echo "$times"
}

# warm-up (not timed): both modules' first on-demand fetch of a small blob, so no run pays for start-up
head -c 4096 /dev/urandom > "$BASE/small.bin"
small=$(push_blob "$BASE/small.bin")
# (a cold start on a loaded machine can exceed on-demand's 5 s question timeout once: then the next try is warm)
for _ in 1 2 3 4 5; do curl -sf -o /dev/null "http://127.0.0.1:$PORT_M2/v2/bench/big/blobs/$small" && break; sleep 1; done

RESULTS="$BASE/results.txt"
: > "$RESULTS"
for i in $(seq 1 "$REPEAT"); do
  head -c "$((LAYER_MB * 1024 * 1024))" /dev/urandom > "$BASE/layer.bin"
  digest=$(push_blob "$BASE/layer.bin")
  rm -f "$BASE/layer.bin"
  direct=$(timed_get "http://127.0.0.1:$PORT_A/v2/bench/big/blobs/$digest")
  ours=$(timed_get "http://127.0.0.1:$PORT_M2/v2/bench/big/blobs/$digest")
  echo "$direct $ours" >> "$RESULTS"
  echo "run $i: direct ttfb/total $direct s; on demand via two levels $ours s"
done

python3 - "$RESULTS" "$LAYER_MB" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
med = lambda i: statistics.median(r[i] for r in rows)
d_ttfb, d_total, o_ttfb, o_total = med(0), med(1), med(2), med(3)
print(f"{sys.argv[2]} MiB layer, median of {len(rows)} runs")
print(f"| | direct from the top | on demand through two levels | ratio |")
print(f"|---|---|---|---|")
print(f"| time to first byte | {d_ttfb*1000:.1f} ms | {o_ttfb*1000:.1f} ms | {o_ttfb/d_ttfb:.2f} |")
print(f"| total time | {d_total:.3f} s | {o_total:.3f} s | {o_total/d_total:.2f} |")
PY
