#!/usr/bin/env bash
# Runs the shared skopeo benchmark harness against docker-registry (the anchor) and against this
# registry, in the same run on the same machine, and prints the ratios (ours / anchor).
#
#   bench/compare.sh            # defaults: BIG_LAYER_MB=1024, 3 repeats (about 10 minutes on 2 cores)
#   BIG_LAYER_MB=256 REPEAT=1 bench/compare.sh   # a quick look
#
# env: BENCH_DIR (the harness; default ../shared/bench beside the clone), PORT_ANCHOR [5300], PORT_METRICS [5302],
#      PORT_OURS [5301], BASE [a fresh temporary folder, deleted at the end unless KEEP=1], OURS_BUILD [aot: this
#      clone published as the amd64 image ships it, one native executable; jit: built and run with dotnet], OURS_DLL
#      [a built ConnectedRegistry.dll, run under the JIT] or OURS_BIN [a published executable of the module], IDLE_S [60: seconds
#      without a request after the workload before the idle resident set is read], plus every size variable of the
#      harness.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BENCH_DIR="${BENCH_DIR:-$ROOT/../shared/bench}"
PORT_ANCHOR="${PORT_ANCHOR:-5300}"
PORT_OURS="${PORT_OURS:-5301}"
IDLE_S="${IDLE_S:-60}"
BASE="${BASE:-$(mktemp -d)}"
mkdir -p "$BASE"
[[ -x "$BENCH_DIR/registry-bench.sh" ]] || { echo "benchmark harness not found in $BENCH_DIR (set BENCH_DIR)" >&2; exit 1; }
command -v docker-registry >/dev/null || { echo "apt-get install docker-registry skopeo" >&2; exit 1; }

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
OURS_BUILD="${OURS_BUILD:-aot}" build_ours
# A standalone site serves once a desired document applies (until then every answer is 503): the defaults.
echo '{ "schemaVersion": "1.0" }' > "$BASE/desired.json"

# The anchor: CNCF distribution with the filesystem driver, as the harness's baseline runner sets it up.
mkdir -p "$BASE/anchor-data"
cat > "$BASE/anchor.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $BASE/anchor-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$PORT_ANCHOR
  secret: regbench-not-a-secret
YML

run_one() { # NAME PORT CMD... : start a fresh process, run the harness, stop it
  local name=$1 port=$2; shift 2
  "$@" > "$BASE/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_up "$port" "$pid" "$BASE/$name.log"
  "$BENCH_DIR/registry-bench.sh" "127.0.0.1:$port" --pid "$pid" --phases "${PHASES:-push,pull,small,parallel,latency}" \
    --label "$name" --json-out "$BASE/$name.json" > "$BASE/$name.txt"
  # Idle after the workload: the resident set once the process has had IDLE_S seconds with no request.
  sleep "$IDLE_S"
  awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" > "$BASE/$name.idle-rss"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

run_one anchor "$PORT_ANCHOR" docker-registry serve "$BASE/anchor.yml"
run_one ours "$PORT_OURS" "${OURS[@]}" --urls "http://127.0.0.1:$PORT_OURS" --data "$BASE/ours-data" \
  --metrics-urls "http://127.0.0.1:${PORT_METRICS:-5302}" \
  --desired "$BASE/desired.json" --reported "$BASE/reported.json" --Logging:LogLevel:Default=Warning

python3 - "$BASE/anchor.json" "$BASE/ours.json" "$IDLE_S" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["metrics"]; o = json.load(open(sys.argv[2]))["metrics"]
for metrics, name in ((a, "anchor"), (o, "ours")):
    rss = open(sys.argv[1].rsplit("/", 1)[0] + f"/{name}.idle-rss").read().strip()
    metrics["registry_rss_idle_kb"] = {"median": float(rss) if rss else 0}
print(f"registry_rss_idle_kb: the resident set {sys.argv[3]} s after the workload, no request in between")
higher = {"push_big_MBps", "pull_big_MBps", "raw_get_big_MBps", "small_push_images_per_s", "small_push_MBps",
          "par_pull_aggregate_MBps", "par_raw_get_aggregate_MBps"}
print(f"{'metric':34} {'anchor':>12} {'ours':>12} {'ours/anchor':>12}  better")
for k in sorted(set(a) & set(o)):
    av, ov = a[k]["median"], o[k]["median"]
    if not isinstance(av, (int, float)) or not isinstance(ov, (int, float)) or av == 0:
        continue
    better = "higher" if k in higher else ("lower" if k.endswith(("_s", "_ms_p50", "_ms_p99", "_kb")) else "")
    print(f"{k:34} {av:12.2f} {ov:12.2f} {ov/av:12.2f}  {better}")
PY
