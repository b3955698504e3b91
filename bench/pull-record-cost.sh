#!/usr/bin/env bash
# The cost of recording pulls on the hot path: manifest GET p50 (and, alongside, blob HEAD p50 and parallel raw GETs
# of a small blob, which recording does not touch) of this registry with recording off (--record-pulls false) and on
# (the default: every manifest GET noted in memory, written to registry.db every --pull-flush-interval, 10 s).
#
# The PAIRED probe (bench/ab-probe.py), as bench/metrics-cost.sh runs it: both registries side by side with the same
# image, AB_ROUNDS rounds of AB_N requests per latency figure in alternating order, in two orientations with fresh
# processes ("on" second, then first); the on/off figure is the geometric mean over both, so the difference between
# two instances side by side cancels. Goal (issue 22): manifest GET p50 on/off <= 1.02.
#
#   bench/pull-record-cost.sh                  # AB_ROUNDS=30 AB_N=200
#
# env: PORT [5321], PORT_ON [5323], BASE [a fresh temporary folder, deleted at the end unless KEEP=1], OURS_DLL [this
#      clone, built], AB_ROUNDS, AB_N, AB_CONTROL=1 (both off: the probe's noise floor), FLUSH [00:00:10].
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PORT="${PORT:-5321}"; PORT_ON="${PORT_ON:-5323}"
AB_ROUNDS="${AB_ROUNDS:-30}"; AB_N="${AB_N:-200}"; FLUSH="${FLUSH:-00:00:10}"
BASE="${BASE:-$(mktemp -d)}"
mkdir -p "$BASE"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
build_ours

echo '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' > "$BASE/config.json"
head -c $((1024 * 1024)) /dev/urandom > "$BASE/layer.bin"
CONFIG_DIGEST="sha256:$(sha256sum "$BASE/config.json" | cut -d' ' -f1)"; LAYER_DIGEST="sha256:$(sha256sum "$BASE/layer.bin" | cut -d' ' -f1)"
cat > "$BASE/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$CONFIG_DIGEST","size":$(stat -c %s "$BASE/config.json")},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"$LAYER_DIGEST","size":$(stat -c %s "$BASE/layer.bin")}]}
JSON
echo '{ "schemaVersion": "1.0" }' > "$BASE/desired.json"

push_image() { # PORT: pushes bench/app:v1 there
  upload_blob "$1" bench/app "$BASE/config.json" "$CONFIG_DIGEST" > /dev/null
  upload_blob "$1" bench/app "$BASE/layer.bin" "$LAYER_DIGEST" > /dev/null
  curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$BASE/manifest.json" \
    "http://127.0.0.1:$1/v2/bench/app/manifests/v1" -o /dev/null || die "manifest to $1 failed"
}
start_ours() { # NAME PORT RECORD_PULLS
  dotnet "$OURS_DLL" --urls "http://127.0.0.1:$2" --metrics-urls "" --record-pulls "$3" --pull-flush-interval "$FLUSH" \
    --data "$BASE/$1-data" --desired "$BASE/desired.json" --reported "$BASE/$1-reported.json" \
    --Logging:LogLevel:Default=Warning > "$BASE/$1.log" 2>&1 &
  PIDS+=($!)
  wait_up "$2" "$!" "$BASE/$1.log"
}
probe() { # ORIENTATION (on-second | on-first) → the probe's table; raw results in $BASE/paired-ORIENTATION.json
  local first=false second=true
  [[ "$1" == on-first ]] && { first=true; second=false; }
  [[ "${AB_CONTROL:-0}" == 1 ]] && { first=false; second=false; }
  rm -rf "$BASE"/ab-*-data
  start_ours ab-first "$PORT" "$first"
  start_ours ab-second "$PORT_ON" "$second"
  push_image "$PORT"; push_image "$PORT_ON"
  echo "paired probe, recording $1 (A: port $PORT, B: port $PORT_ON), $AB_ROUNDS rounds of $AB_N requests per latency figure, load $(cut -d' ' -f1 /proc/loadavg)"
  python3 "$ROOT/bench/ab-probe.py" --a "127.0.0.1:$PORT" --b "127.0.0.1:$PORT_ON" --repo bench/app --ref v1 --blob "$LAYER_DIGEST" \
    --rounds "$AB_ROUNDS" --n "$AB_N" --par 8 --json-out "$BASE/paired-$1.json"
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
probe on-second
probe on-first
echo "load after: $(cut -d' ' -f1 /proc/loadavg)"
python3 - "$BASE" "${AB_CONTROL:-0}" <<'PY'
import json, math, sys
base, control = sys.argv[1], sys.argv[2] == "1"
second = json.load(open(f"{base}/paired-on-second.json"))  # B/A = on/off
first = json.load(open(f"{base}/paired-on-first.json"))    # B/A = off/on
print("recording on / off, geometric mean of both orientations" + (" (CONTROL: both off, so this is the noise floor)" if control else "") + ":")
for key in second:
    ratio = math.sqrt(second[key]["ratio"] / first[key]["ratio"])
    rounds = math.sqrt(second[key]["round_ratio_median"] / first[key]["round_ratio_median"])
    goal = "goal <= 1.02" if key == "manifest_get_ms_p50" else "not touched by recording"
    print(f"  {key:22} {ratio:6.3f}  (medians of the rounds; per-round ratios' medians: {rounds:.3f}; {goal})")
PY
