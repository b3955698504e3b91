#!/usr/bin/env bash
# The bandwidth cap on the wire: this module (standalone) syncs from a docker-registry parent through wanlink.py (the
# shared tools' link emulator, no rate and no delay of its own) with `sync.onDemand: false` (only sync traffic), in two
# scenarios, each with a fresh module:
#   first  `sync.bandwidth.limitMbps` in the first desired document
#   patch  an uncapped pass first (PRE_IMAGES images), then the cap arrives by a patch of the desired document and new
#          images are pushed to the parent: the next pass syncs them under the cap over the connections the uncapped
#          pass opened (the kernel tuned their receive windows to megabytes)
# What crossed the link is counted where the issue counts it, the bytes written into the module's sockets: the kernel's
# own count of each of the module's connections to the link (`ss`, tcpi_bytes_received, sampled every 0.1 s). The
# script prints, for each scenario, the worst 1-second and 5-second windows of it (sliding, from the first byte of the
# capped pass to the last) as ratios to the cap, and the same from wanlink's `bytes_to_client` (its once-a-second
# snapshots; it counts a byte once its own buffers took it, a little ahead of the module's socket).
#
#   bench/wire-cap.sh                    # 4 Mbit/s, 2 images x 2 layers of 4 MiB (16.8 MB, about 34 s) per scenario
#   CAP_MBPS=8 LAYERS=3 bench/wire-cap.sh
#   SCENARIOS=first REPEAT=3 bench/wire-cap.sh
#
# env: CAP_MBPS [4], IMAGES [2], LAYERS [2], LAYER_SIZE [4M], PRE_IMAGES [1], SCENARIOS ["first patch"], REPEAT [1],
#      WANLINK (wanlink.py; default ../shared/tools beside the clone, or beside its parent folder for a worktree),
#      BENCH_DIR (for make-images.py, as in sync-compare.sh), DELAY_MS [0] (wanlink's one-way delay), LINK_SNDBUF
#      [4096], LINK_READ_CHUNK [4096], LINK_WRITE_HIGH_WATER [4096] (see below), PORT_A [5320], PORT_LINK [5321],
#      PORT_OURS [5322], LIMIT_S [900], OURS_DLL [this clone, built], KEEP.
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
PRE_IMAGES="${PRE_IMAGES:-1}"; SCENARIOS="${SCENARIOS:-first patch}"; REPEAT="${REPEAT:-1}"; DELAY_MS="${DELAY_MS:-0}"
PORT_A="${PORT_A:-5320}"; PORT_LINK="${PORT_LINK:-5321}"; PORT_OURS="${PORT_OURS:-5322}"
LIMIT_S="${LIMIT_S:-900}"
BENCH_NAME=wire-cap
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
require_bench_tools docker-registry skopeo python3 curl dotnet ss
[[ -f "$WANLINK" ]] || die "wanlink.py not found (set WANLINK)"

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); cap $CAP_MBPS Mbit/s; $IMAGES images x $LAYERS layers of $LAYER_SIZE" >&2
build_ours
start_distribution a "$PORT_A"

# make_set NAME COUNT: COUNT images of LAYERS layers (unique content, seeded by NAME) in $BASE/NAME; prints the unique bytes
make_set() {
  python3 "$BENCH_DIR/make-images.py" --out "$BASE/$1" --seed "wire-cap-$1" --images "$2" --layers "$LAYERS" \
    --layer-size "$LAYER_SIZE" --shared-fraction 0 --quiet --stats "$BASE/$1.json"
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["unique_bytes"])' "$BASE/$1.json"
}
push_set() { # NAME COUNT REPOSITORY-PREFIX: pushes a set straight to the parent (not through the link)
  local i n
  for i in $(seq 0 $(($2 - 1))); do
    n=$(printf %03d "$i")
    timeout "$(left)" skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$BASE/$1:img-$n" "docker://127.0.0.1:$PORT_A/$3/img-$n:v1"
  done
}

# wanlink.py keeps its asyncio write buffer small but leaves its sockets' kernel send buffers to the kernel's tuning
# (megabytes per connection), and counts a byte as delivered once that buffer took it: a burst into that buffer is
# not on the wire. LINK_SNDBUF (bytes, default 4096; 0 = leave wanlink as it is) fixes its send buffers small, so
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
# LINK_READ_CHUNK and LINK_WRITE_HIGH_WATER (bytes, default 4096 each) make the steps small.
import os
source = open(path).read()
for name, default in (("READ_CHUNK = 256 * 1024", "LINK_READ_CHUNK"), ("WRITE_HIGH_WATER = 64 * 1024", "LINK_WRITE_HIGH_WATER")):
    assert name in source, name
    source = source.replace(name, name.split(" = ")[0] + " = " + os.environ.get(default, "4096"), 1)
exec(compile(source, path, "exec"), {"__name__": "__main__", "__file__": path})
PY
python3 "$BASE/wanlink-small-sndbuf.py" "${LINK_SNDBUF:-4096}" "$WANLINK" --listen "$PORT_LINK" --target "$PORT_A" --delay-ms "$DELAY_MS" --stats "$BASE/link.json" --duration "$LIMIT_S" > "$BASE/link.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT_LINK/v2/" && break; sleep 0.1; done

# Two counters, sampled from here on: wanlink's snapshots (each row stamped with the time wanlink took it: read at this
# script's own second, a snapshot up to a second old was stamped with the reading's time, and the two clocks' drift
# showed a steady cap as 0.7x and 1.15x in neighbouring seconds), and the kernel's count of the bytes received on each
# of the module's connections to the link (a connection that closed keeps the last count seen).
python3 - "$BASE/link.json" "$BASE/samples.txt" "$BASE/kernel.txt" "$PORT_LINK" "$LIMIT_S" <<'PY' &
import json, re, subprocess, sys, time
stats, out, kout, port, limit = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
start = time.time()
seen = None
received = {}
with open(out, "w", buffering=1) as f, open(kout, "w", buffering=1) as k:
    while time.time() - start < limit:
        try:
            snapshot = json.load(open(stats))
            if snapshot["time"] != seen:
                seen = snapshot["time"]
                f.write(f"{snapshot['time']:.3f} {snapshot['bytes_to_client']}\n")
        except (OSError, ValueError, KeyError):
            pass
        before = time.time()
        listing = subprocess.run(["ss", "-tinH", "state", "established", f"( dport = :{port} )"], capture_output=True, text=True).stdout
        now = time.time()
        if now - before > 0.03:  # ss was slow to start or to finish (a loaded machine): its moment is unsure, skip it
            time.sleep(0.01)
            continue
        now = (before + now) / 2  # the kernel answered in between; its dump of the sockets takes well under a millisecond
        local = None
        for line in listing.splitlines():
            if line and not line[0].isspace():
                local = line.split()[-2]
            elif local and (m := re.search(r"bytes_received:(\d+)", line)):
                received[local] = int(m.group(1))
        k.write(f"{now:.3f} {sum(received.values())}\n")
        time.sleep(max(0.0, 0.1 - (time.time() - before)))
PY
PIDS+=($!)
for _ in $(seq 1 50); do [[ -s "$BASE/kernel.txt" ]] && break; sleep 0.1; done

counter() { tail -n 1 "$BASE/kernel.txt" | cut -d' ' -f2; }

# wait_quiet FROM BYTES: until the module's sockets received BYTES more than FROM and then nothing for 3 s
wait_quiet() {
  python3 - "$BASE/kernel.txt" "$1" "$2" "$(left)" <<'PY' || die "the sync did not finish in time"
import sys, time
path, base, unique, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
end = time.time() + limit
while time.time() < end:
    rows = [tuple(map(float, l.split())) for l in open(path) if l.strip()]
    if rows and rows[-1][1] - base >= unique:
        quiet = [r for r in rows if r[0] >= rows[-1][0] - 3]
        if quiet[0][1] == rows[-1][1] and rows[-1][0] - quiet[0][0] >= 2.9:
            sys.exit(0)
    time.sleep(0.5)
sys.exit(1)
PY
}

# report NAME FROM-TIME UNIQUE: the worst windows of what the module's sockets received from FROM-TIME on
report() {
  python3 - "$BASE/kernel.txt" "$BASE/samples.txt" "$2" "$CAP_MBPS" "$3" "$1" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import sys
kernel, link, since, cap, unique, name, load = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]) * 1e6, int(sys.argv[5]), sys.argv[6], sys.argv[7]
def span(path):  # from the sample before the pass's transfer starts (the next second carries a tenth of the cap) to the last byte
    rows = [tuple(map(float, l.split())) for l in open(path) if l.strip()]
    rows = [r for r in rows if r[0] >= since]
    def next_second(i):
        return next((r[1] for r in rows[i:] if r[0] >= rows[i][0] + 1), rows[-1][1]) - rows[i][1]
    first = next(i for i in range(len(rows)) if rows[i + 1][1] > rows[i][1] and next_second(i) >= cap / 80)
    last = next(i for i, r in enumerate(rows) if r[1] == rows[-1][1])
    return rows[first:last + 1]
def worst(rows, seconds):  # sliding: from each sample to the first one at least `seconds` later
    best, j = 0.0, 0
    for i in range(len(rows)):
        while j < len(rows) and rows[j][0] - rows[i][0] < seconds - 0.02:
            j += 1
        if j == len(rows):
            break
        best = max(best, (rows[j][1] - rows[i][1]) * 8 / (rows[j][0] - rows[i][0]))
    return best / cap
k, w = span(kernel), span(link)
took = k[-1][0] - k[0][0]
print(f"{name}: cap {cap / 1e6:g} Mbit/s, {unique} unique bytes, the module's sockets received {int(k[-1][1] - k[0][1])} bytes in "
      f"{took:.1f} s (floor {unique * 8 / cap:.1f} s: {unique * 8 / cap / took:.2f} x the cap over the pass); load {load}")
print(f"{name}: worst 1-s window {worst(k, 1):.3f} x the cap, worst 5-s window {worst(k, 5):.3f} x the cap "
      f"(wanlink's own count, once a second: {worst(w, 1):.2f} x and {worst(w, 5):.2f} x)")
marks = [k[0]]
for r in k:
    if r[0] >= marks[-1][0] + 1:
        marks.append(r)
per = [(b[1] - a[1]) * 8 / (b[0] - a[0]) / 1e6 for a, b in zip(marks, marks[1:])]
print(f"{name}: Mbit/s each second: " + " ".join(f"{p:.1f}" for p in per))
PY
}

# run_module NAME DESIRED-JSON: a fresh module (its data in $BASE/NAME) with that desired document; sets OURS_PID
run_module() {
  mkdir -p "$BASE/$1"
  printf '%s\n' "$2" > "$BASE/$1/desired.json"
  "${OURS[@]}" --urls "http://127.0.0.1:$PORT_OURS" --data "$BASE/$1/data" \
    --desired "$BASE/$1/desired.json" --reported "$BASE/$1/reported.json" \
    --Twin:FilePollIntervalMs=100 --metrics-urls "" --Logging:LogLevel:Default=Warning > "$BASE/$1.log" 2>&1 &
  OURS_PID=$!
  PIDS+=("$OURS_PID")
  wait_up "$PORT_OURS" "$OURS_PID" "$BASE/$1.log"
}
stop_module() { kill "$OURS_PID" 2>/dev/null || true; wait "$OURS_PID" 2>/dev/null || true; }
desired() { # REPOSITORIES-JSON [CAP]
  local bandwidth=""
  [[ -n "${2:-}" ]] && bandwidth=", \"bandwidth\": { \"limitMbps\": $2 }"
  echo "{ \"schemaVersion\": \"1.0\", \"name\": \"wirecap\", \"mode\": \"ReadOnly\", \"anonymousPull\": true,
  \"parent\": { \"endpoint\": \"http://127.0.0.1:$PORT_LINK\" },
  \"sync\": { \"schedule\": \"* * * * *\", \"repositories\": $1, \"onDemand\": false$bandwidth } }"
}

for run in $(seq 1 "$REPEAT"); do
  for scenario in $SCENARIOS; do
    tag="$scenario-$run"
    case "$scenario" in
      first)
        unique=$(make_set "$tag" "$IMAGES")
        push_set "$tag" "$IMAGES" "$tag"
        from=$(date +%s.%N); base=$(counter)
        run_module "$tag" "$(desired "[\"$tag/*\"]" "$CAP_MBPS")"
        wait_quiet "$base" "$unique"
        stop_module
        report "$tag (cap in the first document)" "$from" "$unique"
        ;;
      patch)
        pre=$(make_set "$tag-pre" "$PRE_IMAGES")
        push_set "$tag-pre" "$PRE_IMAGES" "$tag-pre"
        base=$(counter)
        run_module "$tag" "$(desired "[\"$tag-pre/*\", \"$tag/*\"]")"
        wait_quiet "$base" "$pre"
        desired "[\"$tag-pre/*\", \"$tag/*\"]" "$CAP_MBPS" > "$BASE/$tag/desired.json"
        for _ in $(seq 1 100); do
          grep -q '"bandwidthLimitMbps": *'"$CAP_MBPS" "$BASE/$tag/reported.json" 2>/dev/null && break
          sleep 0.1
        done
        grep -q '"bandwidthLimitMbps": *'"$CAP_MBPS" "$BASE/$tag/reported.json" || die "the patch did not apply"
        unique=$(make_set "$tag" "$IMAGES")
        from=$(date +%s.%N); base=$(counter)
        push_set "$tag" "$IMAGES" "$tag"   # the next pass (at most 30 s away) takes them under the cap
        wait_quiet "$base" "$unique"
        stop_module
        report "$tag (cap by a patch after an uncapped pass)" "$from" "$unique"
        ;;
      *) die "unknown scenario $scenario" ;;
    esac
  done
done
