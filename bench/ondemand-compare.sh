#!/usr/bin/env bash
# On-demand pull-through through two levels against a direct pull from the top, in the same run:
# docker-registry A (the top) → this module M1 (parent A) → this module M2 (parent M1), both with a schedule that
# never opens, so M2 and M1 hold nothing until a client asks. For each of REPEAT fresh layers of LAYER_MB MiB:
# GET the blob from A directly (the anchor), then GET it from M2 (a miss at M2, then at M1, fetched from A and
# streamed down both levels while stored), then once more from M2 (now stored there: what serving costs this module
# without any fetch, a second anchor). curl gives the time to first byte and the total time; ratios are
# ours / direct. It also reads the CPU time each registry process spent on each pull (from /proc, including what a
# level does after the client's last byte: flushing the blob to disk, recording it), because on one machine all
# three registries and the client share its cores.
#
# With LINK_MBIT, each level is its own device on its own link, as deployed: M1 reaches A, and M2 reaches M1, through
# a link capped at LINK_MBIT megabits per second each way (bench/linkcap.py), and the direct pull from the top
# crosses the same two links (client → link → link → A). Without it, everything is loopback.
#
#   bench/ondemand-compare.sh              # LAYER_MB=64 REPEAT=3
#   LINK_MBIT=200 bench/ondemand-compare.sh
#
# env: LAYER_MB [64], REPEAT [3], WARMUP [40], LINK_MBIT [none], PORT_A [5320], PORT_M1 [5321], PORT_M2 [5322], BASE [a fresh temporary folder, deleted at the end unless KEEP=1], OURS_DLL [this clone, built]
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

start_module() { # NAME PORT PARENT_PORT (its metrics port: PORT+10, as deployed, and so two modules never share 9600)
  mkdir -p "$BASE/$1"
  cat > "$BASE/$1/desired.json" <<JSON
{ "schemaVersion": "1.0", "name": "bench$1", "mode": "ReadOnly",
  "parent": { "endpoint": "http://127.0.0.1:$3" },
  "sync": { "schedule": "0 0 30 2 *", "window": "PT1H", "repositories": ["bench/*"] } }
JSON
  dotnet "$OURS_DLL" --urls "http://127.0.0.1:$2" --metrics-urls "http://127.0.0.1:$(( $2 + 10 ))" --data "$BASE/$1/data" \
    --desired "$BASE/$1/desired.json" --reported "$BASE/$1/reported.json" \
    --Logging:LogLevel:Default=Warning > "$BASE/$1.log" 2>&1 &
  PIDS+=($!)
  printf -v "PID_${1^^}" '%s' "$!" # PID_M1, PID_M2: their CPU time is read per pull
  wait_up "$2" "$!" "$BASE/$1.log"
}
start_link() { # PORT TARGET_PORT: a capped link (LINK_MBIT) listening on PORT
  python3 "$ROOT/bench/linkcap.py" "$1" "$2" "$LINK_MBIT" > "$BASE/link-$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  die "link on port $1 did not start"
}
if [[ -n "${LINK_MBIT:-}" ]]; then
  # links: L1 (M1 → A), L2 (M2 → M1), and for the direct pull a second link in front of L1 (client → LD → L1 → A)
  PORT_L1=$((PORT_A + 100)); PORT_L2=$((PORT_M1 + 100)); PORT_LD=$((PORT_M2 + 100))
  start_link "$PORT_L1" "$PORT_A"; start_link "$PORT_L2" "$PORT_M1"; start_link "$PORT_LD" "$PORT_L1"
  start_module m1 "$PORT_M1" "$PORT_L1"
  start_module m2 "$PORT_M2" "$PORT_L2"
  DIRECT_PORT=$PORT_LD
else
  start_module m1 "$PORT_M1" "$PORT_A"
  start_module m2 "$PORT_M2" "$PORT_M1"
  DIRECT_PORT=$PORT_A
fi
PID_A=${PIDS[0]} # docker-registry, started first
cpu_ms() { # PID → CPU time (user + system) so far, in ms
  awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$1/stat"
}
cpu_all() { echo "$(cpu_ms "$PID_A") $(cpu_ms "$PID_M1") $(cpu_ms "$PID_M2")"; }
cpu_spent() { # BEFORE AFTER (each "A M1 M2") → "A M1 M2" ms spent
  local -a b=($1) a=($2)
  echo "$((a[0] - b[0])) $((a[1] - b[1])) $((a[2] - b[2]))"
}

push_blob() { upload_blob "$PORT_A" bench/big "$1"; } # FILE → prints the digest, after uploading it to A's bench/big

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
# then WARMUP more fresh blobs of 1 MiB each through all three paths, as a module that has served a while: .NET
# compiles a method again, optimised, after 30 calls, and a cold process spends the first pulls in its JIT (the
# figures of a cold process are the first runs when WARMUP=0)
for _ in $(seq 1 "${WARMUP:-40}"); do
  head -c 1048576 /dev/urandom > "$BASE/warm.bin"
  warm=$(push_blob "$BASE/warm.bin")
  for port in "$DIRECT_PORT" "$PORT_M2" "$PORT_M2"; do curl -sf -o /dev/null "http://127.0.0.1:$port/v2/bench/big/blobs/$warm" || true; done
done
sleep 2

RESULTS="$BASE/results.txt"
: > "$RESULTS"
for i in $(seq 1 "$REPEAT"); do
  head -c "$((LAYER_MB * 1024 * 1024))" /dev/urandom > "$BASE/layer.bin"
  digest=$(push_blob "$BASE/layer.bin")
  rm -f "$BASE/layer.bin"
  sleep 1; c0=$(cpu_all)
  direct=$(timed_get "http://127.0.0.1:$DIRECT_PORT/v2/bench/big/blobs/$digest")
  sleep 1; c1=$(cpu_all)
  ours=$(timed_get "http://127.0.0.1:$PORT_M2/v2/bench/big/blobs/$digest")
  sleep 1; c2=$(cpu_all) # a second after the client's last byte: each level's flush and record are counted
  stored=$(timed_get "http://127.0.0.1:$PORT_M2/v2/bench/big/blobs/$digest") # the second anchor: the same blob, now stored at M2
  direct_cpu=$(cpu_spent "$c0" "$c1"); ours_cpu=$(cpu_spent "$c1" "$c2")
  echo "$direct $ours $stored $direct_cpu $ours_cpu" >> "$RESULTS"
  echo "run $i: direct ttfb/total $direct s; on demand via two levels $ours s; stored at the bottom $stored s; CPU ms (A M1 M2) direct $direct_cpu, on demand $ours_cpu"
done

python3 - "$RESULTS" "$LAYER_MB" "${LINK_MBIT:-}" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
med = lambda i: statistics.median(r[i] for r in rows)
d_ttfb, d_total, o_ttfb, o_total, s_ttfb, s_total = (med(i) for i in range(6))
d_cpu_a, o_cpu_a, o_cpu_m1, o_cpu_m2 = med(6), med(9), med(10), med(11)
ratios = sorted(r[3] / r[1] for r in rows)
where = f"each level on its own {sys.argv[3]} Mbit/s link, the direct pull over the same two links" if sys.argv[3] else "loopback"
print(f"{sys.argv[2]} MiB layer, {where}, median of {len(rows)} runs (total-time ratio per run {ratios[0]:.2f}-{ratios[-1]:.2f})")
print(f"CPU time per pull (ms, median): direct: top {d_cpu_a:.0f}; on demand: top {o_cpu_a:.0f}, middle {o_cpu_m1:.0f}, bottom {o_cpu_m2:.0f}")
print(f"| | direct from the top | on demand through two levels | ratio | stored at the bottom (same module, no fetch) | ratio |")
print(f"|---|---|---|---|---|---|")
print(f"| time to first byte | {d_ttfb*1000:.1f} ms | {o_ttfb*1000:.1f} ms | {o_ttfb/d_ttfb:.2f} | {s_ttfb*1000:.1f} ms | {s_ttfb/d_ttfb:.2f} |")
print(f"| total time | {d_total:.3f} s | {o_total:.3f} s | {o_total/d_total:.2f} | {s_total:.3f} s | {s_total/d_total:.2f} |")
PY
