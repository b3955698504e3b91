#!/usr/bin/env bash
# The bandwidth cap on the wire: this module (standalone) syncs from a docker-registry parent through wanlink.py (the
# shared tools' link emulator, no rate and no delay of its own) with `sync.bandwidth.limitMbps` in its first desired
# document and `sync.onDemand: false` (only sync traffic). wanlink counts the bytes it wrote into the module's sockets
# each second (`bytes_to_client`, its own write buffer kept small); the script prints the worst 1-second and 5-second
# windows of that as ratios to the cap, from the first byte of the pass to the last, and the per-second rates.
#
#   bench/wire-cap.sh                    # 4 Mbit/s, 2 images x 2 layers of 4 MiB (16.8 MB, about 34 s)
#   CAP_MBPS=8 LAYERS=3 bench/wire-cap.sh
#
# env: CAP_MBPS [4], IMAGES [2], LAYERS [2], LAYER_SIZE [4M], WANLINK (wanlink.py; default ../shared/tools beside the
#      clone, or beside its parent folder for a worktree), BENCH_DIR (for make-images.py, as in sync-compare.sh),
#      LINK_SNDBUF [16384] (see below), PORT_A [5320], PORT_LINK [5321], PORT_OURS [5322], LIMIT_S [600], OURS_DLL [this clone, built], KEEP.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
if [[ -z "${BENCH_DIR:-}" ]]; then
  BENCH_DIR="$ROOT/../shared/bench"; [[ -d "$BENCH_DIR" ]] || BENCH_DIR="$ROOT/../../shared/bench"
fi
if [[ -z "${WANLINK:-}" ]]; then
  WANLINK="$ROOT/../shared/tools/wanlink.py"; [[ -f "$WANLINK" ]] || WANLINK="$ROOT/../../shared/tools/wanlink.py"
fi
CAP_MBPS="${CAP_MBPS:-4}"; IMAGES="${IMAGES:-2}"; LAYERS="${LAYERS:-2}"; LAYER_SIZE="${LAYER_SIZE:-4M}"
PORT_A="${PORT_A:-5320}"; PORT_LINK="${PORT_LINK:-5321}"; PORT_OURS="${PORT_OURS:-5322}"
LIMIT_S="${LIMIT_S:-600}"
BENCH_NAME=wire-cap
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
require_bench_tools docker-registry skopeo python3 curl dotnet
[[ -f "$WANLINK" ]] || die "wanlink.py not found (set WANLINK)"

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); cap $CAP_MBPS Mbit/s; $IMAGES images x $LAYERS layers of $LAYER_SIZE" >&2
build_ours
start_distribution a "$PORT_A"

python3 "$BENCH_DIR/make-images.py" --out "$BASE/layout" --seed "wire-cap" --images "$IMAGES" --layers "$LAYERS" \
  --layer-size "$LAYER_SIZE" --shared-fraction 0 --quiet --stats "$BASE/layout.json"
UNIQUE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["unique_bytes"])' "$BASE/layout.json")
for i in $(seq 0 $((IMAGES - 1))); do
  n=$(printf %03d "$i")
  timeout "$(left)" skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$BASE/layout:img-$n" "docker://127.0.0.1:$PORT_A/wire/img-$n:v1"
done

# wanlink.py keeps its asyncio write buffer small but leaves its sockets' kernel send buffers to the kernel's tuning
# (megabytes per connection), and counts a byte as delivered once that buffer took it: a burst into that buffer is
# not on the wire. LINK_SNDBUF (bytes, default 16384; 0 = leave wanlink as it is) fixes its send buffers small, so
# what it counts is what the module's receive window let through.
cat > "$BASE/wanlink-small-sndbuf.py" <<'PY'
import socket, sys
size = int(sys.argv[1]); path = sys.argv[2]
plain = socket.socket.setsockopt
def setsockopt(self, level, option, *value):
    plain(self, level, option, *value)
    if size and level == socket.IPPROTO_TCP and option == socket.TCP_NODELAY:  # wanlink sets it on every connection
        plain(self, socket.SOL_SOCKET, socket.SO_SNDBUF, size)
socket.socket.setsockopt = setsockopt
sys.argv = [path] + sys.argv[3:]
# With no rate of its own wanlink hands each read (up to READ_CHUNK, 256 KiB) to the far socket in one write and counts
# it delivered at that write, with up to WRITE_HIGH_WATER (64 KiB) of it still in its own buffer: the count moved in
# 256 KiB steps (0.5 s of a 4 Mbit/s cap), so a perfectly paced module read as 2 x the cap in some 1-second windows.
# LINK_READ_CHUNK and LINK_WRITE_HIGH_WATER (bytes, default 16384 each) make the steps small.
import os
source = open(path).read()
for name, default in (("READ_CHUNK = 256 * 1024", "LINK_READ_CHUNK"), ("WRITE_HIGH_WATER = 64 * 1024", "LINK_WRITE_HIGH_WATER")):
    assert name in source, name
    source = source.replace(name, name.split(" = ")[0] + " = " + os.environ.get(default, "16384"), 1)
exec(compile(source, path, "exec"), {"__name__": "__main__", "__file__": path})
PY
python3 "$BASE/wanlink-small-sndbuf.py" "${LINK_SNDBUF:-16384}" "$WANLINK" --listen "$PORT_LINK" --target "$PORT_A" --stats "$BASE/link.json" --duration "$LIMIT_S" > "$BASE/link.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT_LINK/v2/" && break; sleep 0.1; done

# The link's counter, sampled each second from here on (the probe above is before the first sample).
python3 - "$BASE/link.json" "$BASE/samples.txt" "$LIMIT_S" <<'PY' &
import json, sys, time
stats, out, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
start = time.time()
# Each row is one of wanlink's snapshots, with the time wanlink took it (it rewrites the file about once a second):
# read at this script's own second, a snapshot up to a second old was stamped with the reading's time, and the two
# clocks' drift showed a steady cap as 0.7x and 1.15x in neighbouring seconds.
seen = None
with open(out, "w", buffering=1) as f:
    while time.time() - start < limit:
        try:
            snapshot = json.load(open(stats))
            if snapshot["time"] != seen:
                seen = snapshot["time"]
                f.write(f"{snapshot['time']:.3f} {snapshot['bytes_to_client']}\n")
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
PY
PIDS+=($!)

mkdir -p "$BASE/ours"
cat > "$BASE/ours/desired.json" <<JSON
{ "schemaVersion": "1.0", "name": "wirecap", "mode": "ReadOnly", "anonymousPull": true,
  "parent": { "endpoint": "http://127.0.0.1:$PORT_LINK" },
  "sync": { "schedule": "* * * * *", "repositories": ["wire/*"], "onDemand": false, "bandwidth": { "limitMbps": $CAP_MBPS } } }
JSON
dotnet "$OURS_DLL" --urls "http://127.0.0.1:$PORT_OURS" --data "$BASE/ours/data" \
  --desired "$BASE/ours/desired.json" --reported "$BASE/ours/reported.json" \
  --Twin:FilePollIntervalMs=100 --metrics-urls "" --Logging:LogLevel:Default=Warning > "$BASE/ours.log" 2>&1 &
OURS_PID=$!
PIDS+=("$OURS_PID")
wait_up "$PORT_OURS" "$OURS_PID" "$BASE/ours.log"

# Done when the link carried every unique byte and then stayed quiet for 3 s (on-demand is off: a HEAD answers only
# once a tag synced, but the pass's own end is the link going quiet).
python3 - "$BASE/samples.txt" "$UNIQUE" "$(left)" <<'PY' || die "the sync did not finish in time"
import sys, time
path, unique, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
end = time.time() + limit
while time.time() < end:
    rows = [tuple(map(float, l.split())) for l in open(path) if l.strip()]
    if rows and rows[-1][1] >= unique and len(rows) >= 4 and rows[-4][1] == rows[-1][1]:
        sys.exit(0)
    time.sleep(1)
sys.exit(1)
PY

python3 - "$BASE/samples.txt" "$CAP_MBPS" "$UNIQUE" <<'PY'
import sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
cap, unique = float(sys.argv[2]) * 1e6, int(sys.argv[3])
first = next(i for i, r in enumerate(rows) if r[1] > 0) - 1
last = next(i for i, r in enumerate(rows) if r[1] == rows[-1][1])
rows = rows[max(first, 0):last + 1]
def worst(n):
    best = 0.0
    for i in range(len(rows) - n):
        best = max(best, (rows[i + n][1] - rows[i][1]) * 8 / (rows[i + n][0] - rows[i][0]))
    return best / cap
per = [(b[1] - a[1]) * 8 / (b[0] - a[0]) / 1e6 for a, b in zip(rows, rows[1:])]
span = rows[-1][0] - rows[0][0]
print(f"cap {cap / 1e6:g} Mbit/s, {unique} unique bytes, link carried {int(rows[-1][1] - rows[0][1])} bytes to the module in {span:.0f} s "
      f"(floor {unique * 8 / cap:.0f} s)")
print(f"worst 1-s window: {worst(1):.2f} x the cap; worst 5-s window: {worst(5):.2f} x the cap")
print("Mbit/s each second: " + " ".join(f"{p:.1f}" for p in per))
PY
