#!/usr/bin/env bash
# Sync benchmark: the same content synced from one docker-registry (A, the parent) by `skopeo sync` into a
# second docker-registry (B) and by this module (standalone, A as its parent), in the same run on the same
# machine. Measures the wall time, the bytes and requests read from A (through a counting TCP proxy in front
# of A), and the same again for a repeat with nothing changed. Prints the ratios ours/skopeo, for the module in two
# situations: (a) the first pass of a freshly started process, (b) a process that already ran a pass (over a warm-up
# repository) when the set is added.
#
#   bench/sync-compare.sh                 # defaults: 50 images of 5 layers of 1 MiB, one layer shared by all
#   IMAGES=10 bench/sync-compare.sh       # a quick look
#
# env: IMAGES [50], LAYERS [5], LAYER_SIZE [1M], SHARED_FRACTION [0.2] (one of five layers shared),
#      WARMUP_IMAGES [1] (the images of the warm-up pass of situation (b); more bring its code closer to fully optimised),
#      BENCH_DIR (the shared harness, for make-images.py; default ../shared/bench beside the clone, or
#      beside its parent folder for a worktree),
#      PORT_A [5310], PORT_B [5311], PORT_PROXY [5312], PORT_OURS [5313], PORT_METRICS [PORT_OURS + 10: our
#      /metrics, where the module's own duration of each pass is read], BASE [a fresh temporary folder,
#      deleted at the end unless KEEP=1], LIMIT_S [900] (the whole run; every wait is bounded by it),
#      LINK_ARGS [none: loopback; else options of the shared WAN-link emulator, e.g. '--rate-kbit 100000 --delay-ms 50',
#      which skopeo and the module then both reach A through; WANLINK its path, default BENCH_DIR/../tools/wanlink.py;
#      PORT_LINK its port, default PORT_OURS + 20],
#      OURS_BUILD [aot: this clone published as the amd64 image ships it, one native executable; jit: built and run
#      with dotnet], OURS_DLL [a built ConnectedRegistry.dll, under the JIT] or OURS_BIN [a published executable of the module: its
#      first pass runs no JIT], OURS_ARGS [more arguments for our module, for example a Debug log with timestamps
#      to profile a pass: '--Logging:LogLevel:ConnectedRegistry.Sync=Debug --Logging:Console:FormatterOptions:TimestampFormat=HH:mm:ss.ffff'
#      with KEEP=1, the logs are fresh.log and warm.log], RESULTS [a file the run appends its figures to as one JSON line].
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
if [[ -z "${BENCH_DIR:-}" ]]; then  # beside the clone, or beside the folder of worktrees
  BENCH_DIR="$ROOT/../shared/bench"; [[ -d "$BENCH_DIR" ]] || BENCH_DIR="$ROOT/../../shared/bench"
fi
IMAGES="${IMAGES:-50}"; WARMUP_IMAGES="${WARMUP_IMAGES:-1}"; LAYERS="${LAYERS:-5}"; LAYER_SIZE="${LAYER_SIZE:-1M}"; SHARED_FRACTION="${SHARED_FRACTION:-0.2}"
PORT_A="${PORT_A:-5310}"; PORT_B="${PORT_B:-5311}"; PORT_PROXY="${PORT_PROXY:-5312}"; PORT_OURS="${PORT_OURS:-5313}"
PORT_METRICS="${PORT_METRICS:-$((PORT_OURS + 10))}"
LIMIT_S="${LIMIT_S:-900}"
BASE="${BASE:-$(mktemp -d)}"
mkdir -p "$BASE"

BENCH_NAME=sync-compare
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
require_bench_tools docker-registry skopeo python3 curl dotnet

# --- the counting proxy: loopback only, bench only. Counts the bytes A sends (and requests it gets) since the
# last reset; SIGUSR1 writes the counters to STATS and resets them. Exits by itself after its time limit or
# when the script that started it is gone.
cat > "$BASE/proxy.py" <<'PY'
import asyncio, json, os, signal, sys, time
listen, upstream, stats_path, limit = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
parent = os.getppid()
c = {}
def reset():
    c.update(down=0, up=0, requests=0, connections=0, first=None, last=None)
reset()
def mark(t):
    if c["first"] is None: c["first"] = t
    c["last"] = t
def dump():
    tmp = stats_path + ".tmp"
    with open(tmp, "w") as f: json.dump(c, f)
    os.replace(tmp, stats_path)
    reset()
async def pump(reader, writer, key):
    try:
        while data := await reader.read(1 << 16):
            t = time.time()
            c[key] += len(data)
            if key == "up":  # GET and HEAD only from a sync client: each request line ends like this once
                c["requests"] += data.count(b" HTTP/1.1\r\n")
            mark(t)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try: writer.close()
        except Exception: pass
async def handle(cr, cw):
    c["connections"] += 1
    try:
        ur, uw = await asyncio.open_connection("127.0.0.1", upstream)
    except OSError:
        cw.close(); return
    await asyncio.gather(pump(cr, uw, "up"), pump(ur, cw, "down"))
async def main():
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, dump)
    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    end = time.time() + limit
    async with server:
        while time.time() < end and os.getppid() == parent:
            await asyncio.sleep(0.5)
asyncio.run(main())
PY

PROXY_PID=""
proxy_stats() { # OUT : counters since the last call, into OUT (json)
  rm -f "$BASE/proxy-stats.json"
  kill -USR1 "$PROXY_PID"
  for _ in $(seq 1 100); do [[ -s "$BASE/proxy-stats.json" ]] && { mv "$BASE/proxy-stats.json" "$1"; return 0; }; sleep 0.05; done
  die "the counting proxy did not answer"
}
proxy_quiet() { # SECONDS : waits until A saw no traffic for SECONDS (and some traffic happened since the last reset)
  python3 - "$PROXY_PID" "$BASE" "$1" "$(left)" <<'PY'
import json, os, signal, sys, time
pid, base, quiet, limit = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
# each sample resets the proxy's counters, so the samples are added up
total = {"down": 0, "up": 0, "requests": 0, "connections": 0, "first": None, "last": None}
path = os.path.join(base, "proxy-stats.json")
end = time.time() + limit
while time.time() < end:
    if os.path.exists(path): os.remove(path)
    os.kill(pid, signal.SIGUSR1)
    for _ in range(100):
        if os.path.exists(path) and os.path.getsize(path) > 0: break
        time.sleep(0.02)
    s = json.load(open(path)); os.remove(path)
    for k in ("down", "up", "requests", "connections"): total[k] += s[k]
    if s["first"] is not None and total["first"] is None: total["first"] = s["first"]
    if s["last"] is not None: total["last"] = s["last"]
    if total["last"] is not None and time.time() - total["last"] >= quiet:
        json.dump(total, open(os.path.join(base, "quiet.json"), "w")); sys.exit(0)
    time.sleep(0.1)
sys.exit("no quiet period before the time limit")
PY
}
jq_() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(v if v is not None else 0)' "$@"; }

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $IMAGES images x $LAYERS layers of $LAYER_SIZE, shared fraction $SHARED_FRACTION" >&2

OURS_BUILD="${OURS_BUILD:-aot}" build_ours
echo "== ours: ${OURS[*]}" >&2

start_distribution a "$PORT_A"
start_distribution b "$PORT_B"
python3 "$BASE/proxy.py" "$PORT_PROXY" "$PORT_A" "$BASE/proxy-stats.json" "$LIMIT_S" &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT_PROXY/v2/" && break; sleep 0.1; done
# LINK_ARGS: skopeo and the module both reach A through the shared WAN-link emulator (in front of the counting proxy)
PARENT_PORT=$PORT_PROXY
if [[ -n "${LINK_ARGS:-}" ]]; then
  WANLINK="${WANLINK:-$BENCH_DIR/../tools/wanlink.py}"
  [[ -f "$WANLINK" ]] || die "wanlink.py not found at $WANLINK (set WANLINK)"
  PARENT_PORT="${PORT_LINK:-$((PORT_OURS + 20))}"
  # shellcheck disable=SC2086
  python3 "$WANLINK" --listen "$PARENT_PORT" --target "$PORT_PROXY" $LINK_ARGS --duration "$LIMIT_S" > "$BASE/link.log" 2>&1 &
  PIDS+=("$!")
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$PARENT_PORT/v2/" && break; sleep 0.1; done
  echo "== through the link: $LINK_ARGS" >&2
fi

# --- content: IMAGES images pushed into A as bench/img-NNN:v1 (directly, not through the proxy)
python3 "$BENCH_DIR/make-images.py" --out "$BASE/layout" --seed "sync-compare" --images "$IMAGES" --layers "$LAYERS" \
  --layer-size "$LAYER_SIZE" --shared-fraction "$SHARED_FRACTION" --quiet --stats "$BASE/layout.json"
UNIQUE=$(jq_ "$BASE/layout.json" unique_bytes); LOGICAL=$(jq_ "$BASE/layout.json" logical_bytes)
seq 0 $((IMAGES - 1)) | timeout "$(left)" xargs -P 2 -I{} sh -c \
  'i=$(printf %03d "$1"); exec skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$2:img-$i" "docker://$3/bench/img-$i:v1"' \
  _ {} "$BASE/layout" "127.0.0.1:$PORT_A"
# the warm-up images (another seed: no blob in common with the set), warm/img-NNN:v1
python3 "$BENCH_DIR/make-images.py" --out "$BASE/warm-layout" --seed "sync-compare-warm" --images "$WARMUP_IMAGES" --layers "$LAYERS" \
  --layer-size "$LAYER_SIZE" --quiet
for i in $(seq 0 $((WARMUP_IMAGES - 1))); do
  i=$(printf %03d "$i")
  skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$BASE/warm-layout:img-$i" "docker://127.0.0.1:$PORT_A/warm/img-$i:v1"
done
WARM_REPOS=$(for i in $(seq 0 $((WARMUP_IMAGES - 1))); do printf 'warm/img-%03d\n' "$i"; done)
REPOS=$(for i in $(seq 0 $((IMAGES - 1))); do printf 'bench/img-%03d\n' "$i"; done)
echo "== A holds $IMAGES images: $LOGICAL bytes of content, $UNIQUE unique" >&2

# --- (a) skopeo sync A (through the proxy) -> B, then again with nothing changed. The repository list is given
# up front (skopeo cannot resolve a wildcard); all tags of each repository.
{
  echo "127.0.0.1:$PARENT_PORT:"
  echo "  tls-verify: false"
  echo "  images:"
  while read -r r; do echo "    $r: []"; done <<<"$REPOS"
} > "$BASE/sync.yaml"
skopeo_sync() { # NAME
  proxy_stats "$BASE/discard.json"
  local t0 t1
  t0=$(now)
  timeout "$(left)" skopeo --insecure-policy sync --src yaml --dest docker --dest-tls-verify=false \
    "$BASE/sync.yaml" "127.0.0.1:$PORT_B/mirror" > "$BASE/$1.log" 2>&1 || { cat "$BASE/$1.log" >&2; die "skopeo sync failed"; }
  t1=$(now)
  proxy_stats "$BASE/$1.json"
  sub "$t1" "$t0" > "$BASE/$1.time"
}
skopeo_sync skopeo-full
got=$(curl -s "http://127.0.0.1:$PORT_B/v2/_catalog?n=1000" | python3 -c 'import json,sys; print(sum(r.startswith("mirror/") for r in json.load(sys.stdin)["repositories"]))')
(( got == IMAGES )) || die "B lists $got of $IMAGES repositories after skopeo sync"
skopeo_sync skopeo-noop

# --- (b) this module, standalone, A (through the proxy) as its parent, continuous schedule; twice, in two situations a
# site meets: FRESH, the first pass of a module process just started (every code path it runs is compiled during the
# pass: the JIT build spends about half its CPU of that pass compiling); WARM, a module that has run a pass already (over
# the warm-up repository, a different image) and then gets the 50-image set added by a desired-properties change, as
# when an operator adds repositories or the parent gets new releases.
desired() { # DIR TTL REPOSITORIES(JSON list) : the desired document; the TTL only serves to make a change that wakes the scheduler
  cat > "$1/desired.json.tmp" <<JSON
{ "schemaVersion": "1.0", "name": "benchmirror", "mode": "ReadOnly", "anonymousPull": true,
  "parent": { "endpoint": "http://127.0.0.1:$PARENT_PORT" },
  "sync": { "schedule": "* * * * *", "repositories": $3, "onDemand": false, "messageTtl": "$2" } }
JSON
  mv "$1/desired.json.tmp" "$1/desired.json"
}
OURS_PID=""; OURS_PORT=""; OURS_METRICS=""
start_ours() { # DIR PORT METRICS : starts the module (no parent yet), sets OURS_PID, OURS_PORT and OURS_METRICS
  mkdir -p "$1"
  echo '{ "schemaVersion": "1.0", "name": "benchmirror", "mode": "ReadOnly", "anonymousPull": true }' > "$1/desired.json"
  "${OURS[@]}" --urls "http://127.0.0.1:$2" --metrics-urls "http://127.0.0.1:$3" --data "$1/data" \
    --desired "$1/desired.json" --reported "$1/reported.json" \
    --Twin:FilePollIntervalMs=100 --Logging:LogLevel:Default=Warning ${OURS_ARGS:-} > "$1.log" 2>&1 &
  OURS_PID=$!; OURS_PORT=$2; OURS_METRICS=$3
  PIDS+=("$OURS_PID")
  wait_up "$OURS_PORT" "$OURS_PID" "$1.log"
}
stop_ours() { kill "$OURS_PID"; wait "$OURS_PID" 2>/dev/null || true; }
cpu() { awk '{ print $14 + $15 }' "/proc/$OURS_PID/stat"; }
# passes() : "SECONDS COUNT", the sum and count of the module's own pass durations so far (its
# connected_registry_sync_pass_duration_seconds histogram, every result): the time a pass took, read from the registry's
# own state rather than from outside, where the desired file's poll (100 ms) and the wait for a quiet parent are no part of it
passes() {
  curl -s "http://127.0.0.1:$OURS_METRICS/metrics" | awk '
    /^connected_registry_sync_pass_duration_seconds_sum/ { s += $NF }
    /^connected_registry_sync_pass_duration_seconds_count/ { c += $NF }
    END { printf "%.6f %d\n", s, c }'
}
passes_since() { # "SECONDS COUNT" from passes() before : the passes since then, as JSON
  passes | awk -v b="$1" 'BEGIN { split(b, a, " ") } { printf "{\"seconds\": %.6f, \"count\": %d}\n", $1 - a[1], $2 - a[2] }'
}
TICKS=$(getconf CLK_TCK)
wait_tags() { # REPOSITORY... : until every repository's tag v1 answers at our registry (the tag moves only once all its
  # content is there; with sync.onDemand off, so that a HEAD does not fetch the manifest itself and end the wait before
  # the sync did)
  python3 - "$OURS_PORT" "$(left)" "$@" <<'PY' || die "our registry did not get every image in time"
import http.client, sys, time
port, limit, missing = int(sys.argv[1]), float(sys.argv[2]), list(sys.argv[3:])
end = time.time() + limit
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
while missing and time.time() < end:
    still = []
    for i, repo in enumerate(missing):  # repositories are synced in order: stop at the first one not there yet
        conn.request("HEAD", f"/v2/{repo}/manifests/v1", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        r = conn.getresponse(); r.read()
        if r.status != 200:
            still = missing[i:]
            break
    missing = still
    if missing: time.sleep(0.05)
sys.exit(1 if missing else 0)
PY
}
measure_ours() { # NAME DIR REPOSITORIES(JSON) TTL_FULL TTL_NOOP : the full pass that the desired change to REPOSITORIES
  # starts (timed to every bench tag answering), then one more with nothing changed; results in $BASE/NAME-full.* and
  # $BASE/NAME-noop.*
  local name=$1 dir=$2 repos=$3 cpu0 p0 t0 t1
  proxy_stats "$BASE/discard.json"
  cpu0=$(cpu); p0=$(passes); t0=$(now)
  desired "$dir" "$4" "$repos"
  # shellcheck disable=SC2086
  wait_tags $REPOS
  t1=$(now)
  sub "$t1" "$t0" > "$BASE/$name-full.time"
  proxy_quiet 2   # the rest of the pass (nothing but its end) and its traffic
  mv "$BASE/quiet.json" "$BASE/$name-full.json"
  passes_since "$p0" > "$BASE/$name-full.passes"
  awk -v a="$(cpu)" -v b="$cpu0" -v t="$TICKS" 'BEGIN { printf "%.2f", (a - b) / t }' > "$BASE/$name-full.cpu"

  cpu0=$(cpu); p0=$(passes); t0=$(now)
  desired "$dir" "$5" "$repos"   # a settings change wakes the scheduler: one more pass, with nothing changed at the parent
  proxy_quiet 2
  mv "$BASE/quiet.json" "$BASE/$name-noop.json"
  passes_since "$p0" > "$BASE/$name-noop.passes"
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print("%.3f" % (s["last"] - float(sys.argv[2])))' "$BASE/$name-noop.json" "$t0" > "$BASE/$name-noop.time"
  awk -v a="$(cpu)" -v b="$cpu0" -v t="$TICKS" 'BEGIN { printf "%.2f", (a - b) / t }' > "$BASE/$name-noop.cpu"

  # every image the same at both ends: the manifest digests of ours equal A's
  python3 - "$PORT_A" "$OURS_PORT" $REPOS <<'PY' || die "our registry does not hold the same manifests as A"
import http.client, sys
a, o = (http.client.HTTPConnection("127.0.0.1", int(p), timeout=10) for p in sys.argv[1:3])
accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
for repo in sys.argv[3:]:
    digests = []
    for c in (a, o):
        c.request("HEAD", f"/v2/{repo}/manifests/v1", headers=accept); r = c.getresponse(); r.read()
        digests.append(r.getheader("Docker-Content-Digest"))
    if digests[0] is None or digests[0] != digests[1]: sys.exit(f"{repo}: {digests}")
PY
}

# FRESH: the 50-image set in the first desired document with a parent, the process's first pass
start_ours "$BASE/fresh" "$PORT_OURS" "$PORT_METRICS"
measure_ours fresh "$BASE/fresh" '["bench/*"]' P2D P3D
stop_ours

# WARM: a pass over the warm-up repository first (its tag answering, then 2 s without parent traffic: the pass ended),
# then the 50-image set added
start_ours "$BASE/warm" "$((PORT_OURS + 1))" "$((PORT_METRICS + 1))"
proxy_stats "$BASE/discard.json"
desired "$BASE/warm" P1D '["warm/*"]'
# shellcheck disable=SC2086
wait_tags $WARM_REPOS
proxy_quiet 2
rm -f "$BASE/quiet.json"
WARMUP_PASSES=$(passes | cut -d' ' -f2)
measure_ours warm "$BASE/warm" '["warm/*", "bench/*"]' P2D P3D
stop_ours

python3 - "$BASE" "$UNIQUE" "$LOGICAL" "$IMAGES" "$WARMUP_PASSES" "${RESULTS:-}" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, os, sys
base, unique, logical, images, warmup_passes, results, load_end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7]
def load(name):
    s = json.load(open(os.path.join(base, name + ".json")))
    s["time"] = float(open(os.path.join(base, name + ".time")).read())
    s["span"] = (s["last"] - s["first"]) if s["first"] is not None else 0.0
    cpu = os.path.join(base, name + ".cpu")
    s["cpu"] = float(open(cpu).read()) if os.path.exists(cpu) else None
    passes = os.path.join(base, name + ".passes")
    s["passes"] = json.load(open(passes)) if os.path.exists(passes) else None
    return s
sk, skn = load("skopeo-full"), load("skopeo-noop")
ours = {situation: (load(situation + "-full"), load(situation + "-noop")) for situation in ("fresh", "warm")}
print(f"content: {images} images, {logical} bytes ({logical / 1e6:.1f} MB), unique blob bytes {unique} ({unique / 1e6:.1f} MB)")
print(f"{'':50} {'skopeo sync':>14} {'ours':>14} {'ours/skopeo':>12}")
def row(label, a, b, fmt="{:14.2f}"):
    ratio = f"{b / a:12.2f}" if a else f"{'-':>12}"
    print(f"{label:50} {fmt.format(a)} {fmt.format(b)} {ratio}")
for situation, (ou, oun) in ours.items():
    what = {"fresh": "(a) fresh module, its first pass", "warm": "(b) running module, the set added"}[situation]
    print(what)
    row("  full sync: time (s)", sk["time"], ou["time"])
    row("  full sync: bytes read from A", sk["down"], ou["down"], "{:14d}")
    row("  full sync: requests to A", sk["requests"], ou["requests"], "{:14d}")
    row("  full sync: the pass's own time (s)", sk["time"], ou["passes"]["seconds"])
    row("  no-change sync: the pass's own time (s)", skn["time"], oun["passes"]["seconds"])
    row("  no-change sync: desired change to last byte (s)", skn["time"], oun["time"])
    row("  no-change sync: parent traffic span (s)", skn["span"], oun["span"])
    row("  no-change sync: bytes read from A", skn["down"], oun["down"], "{:14d}")
    row("  no-change sync: requests to A", skn["requests"], oun["requests"], "{:14d}")
    print(f"  ours: bytes read from A / unique blob bytes = {ou['down'] / unique:.4f}; CPU of our process: full {ou['cpu']} s, "
          f"no-change {oun['cpu']} s; passes: full {ou['passes']['count']}, no-change {oun['passes']['count']}")
print(f"warm-up passes before (b): {warmup_passes}, over {os.environ.get('WARMUP_IMAGES', '1')} image(s)")
print("time: skopeo = the command's wall time; ours = from the desired change to every tag answering (full); the pass's own "
      "time = the duration of the module's passes in that phase, from its metrics (connected_registry_sync_pass_duration_seconds); "
      "desired change to last byte = as measured before (the desired file's 100 ms poll is part of it). "
      "Span = first to last byte exchanged with A.")
summary = {"load_end": load_end, "warmup_images": int(os.environ.get("WARMUP_IMAGES", "1")), "skopeo_full_s": sk["time"], "skopeo_noop_s": skn["time"]}
for situation, (ou, oun) in ours.items():
    summary[situation] = {"full_s": ou["passes"]["seconds"], "full": ou["passes"]["seconds"] / sk["time"],
                          "noop_s": oun["passes"]["seconds"], "noop": oun["passes"]["seconds"] / skn["time"],
                          "bytes": ou["down"] / unique, "cpu_full_s": ou["cpu"], "passes_full": ou["passes"]["count"]}
print(f"summary: {json.dumps(summary)}")
if results:
    with open(results, "a") as f: f.write(json.dumps(summary) + "\n")
PY
echo "== load at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
