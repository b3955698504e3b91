#!/usr/bin/env bash
# Offline bundle benchmark: export and import of a bundle of about 1 GiB with this module's `bundle` command,
# against `skopeo copy` to and from `oci-archive:` of the same content, in the same run on the same machine.
#
#   headquarters: a docker-registry (A) holding IMAGES images of LAYERS layers of LAYER_SIZE (no sharing)
#   export: ours   `bundle export --parent A --repository 'bench/*'`  → one signed bundle (OCI layout tar)
#           skopeo `skopeo copy docker://A/bench/img-N:v1 oci-archive:img-N.tar` for every image, one after another
#   import: ours   `bundle import --data D BUNDLE` into a stopped module's data root (verify all, then store)
#           skopeo `skopeo copy oci-archive:img-N.tar docker://B/...` into a second docker-registry (B), every image
#
# Each side is timed from start to exit; peak memory is the process's maximum resident set (getrusage of the
# child: the bundle command, or the largest skopeo process). MB/s is the content's unique bytes (1 MB = 10^6 B)
# over the wall time. Prints a table and the ratios ours/skopeo.
#
#   bench/bundle.sh                       # defaults: 4 images x 16 layers of 16 MiB = 1 GiB
#   IMAGES=2 LAYERS=4 bench/bundle.sh     # a quick look (128 MiB)
#
# env: IMAGES [4], LAYERS [16], LAYER_SIZE [16M], BENCH_DIR (the shared harness with make-images.py), PORT_A [5320],
#      PORT_B [5321], BASE [a fresh temporary folder, deleted at the end unless KEEP=1], LIMIT_S [1800],
#      OURS_DLL [this clone, built].
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
if [[ -z "${BENCH_DIR:-}" ]]; then
  BENCH_DIR="$ROOT/../shared/bench"; [[ -d "$BENCH_DIR" ]] || BENCH_DIR="$ROOT/../../shared/bench"
fi
IMAGES="${IMAGES:-4}"; LAYERS="${LAYERS:-16}"; LAYER_SIZE="${LAYER_SIZE:-16M}"
PORT_A="${PORT_A:-5320}"; PORT_B="${PORT_B:-5321}"; LIMIT_S="${LIMIT_S:-1800}"
BASE="${BASE:-$(mktemp -d)}"
mkdir -p "$BASE"
BENCH_NAME=bundle
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
require_bench_tools docker-registry skopeo python3 curl dotnet

# measure NAME CMD...: runs CMD, writes "seconds peak_rss_kib" to $BASE/NAME.m (the child's own maximum RSS)
cat > "$BASE/measure.py" <<'PY'
import resource, subprocess, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
t0 = time.time()
r = subprocess.run(cmd, stdout=subprocess.DEVNULL)
t = time.time() - t0
if r.returncode != 0:
    sys.exit(f"{cmd[0]} exited {r.returncode}")
open(out, "w").write(f"{t:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\n")
PY
measure() { local name=$1; shift; timeout "$(left)" python3 "$BASE/measure.py" "$BASE/$name.m" "$@" || die "$name failed"; }
# skopeo_each NAME SRC_FMT DST_FMT: one skopeo copy per image (printf formats of the image number), summed time, largest RSS
skopeo_each() {
  local name=$1 src=$2 dst=$3 total=0 peak=0 i
  for i in $(seq 0 $((IMAGES - 1))); do
    local n; n=$(printf %03d "$i")
    # shellcheck disable=SC2059
    measure "$name-$n" skopeo --insecure-policy copy -q --src-tls-verify=false --dest-tls-verify=false "$(printf "$src" "$n")" "$(printf "$dst" "$n")"
    read -r t r < "$BASE/$name-$n.m"
    total=$(awk -v a="$total" -v b="$t" 'BEGIN { printf "%.3f", a + b }'); (( r > peak )) && peak=$r
  done
  echo "$total $peak" > "$BASE/$name.m"
}

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $IMAGES images x $LAYERS layers of $LAYER_SIZE" >&2
build_ours
OURS=(dotnet "$OURS_DLL")

start_distribution a "$PORT_A"
start_distribution b "$PORT_B"
python3 "$BENCH_DIR/make-images.py" --out "$BASE/layout" --seed "bundle-bench" --images "$IMAGES" --layers "$LAYERS" \
  --layer-size "$LAYER_SIZE" --shared-fraction 0 --quiet --stats "$BASE/layout.json"
UNIQUE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["unique_bytes"])' "$BASE/layout.json")
seq 0 $((IMAGES - 1)) | timeout "$(left)" xargs -P 2 -I{} sh -c \
  'i=$(printf %03d "$1"); exec skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$2:img-$i" "docker://$3/bench/img-$i:v1"' \
  _ {} "$BASE/layout" "127.0.0.1:$PORT_A"
rm -rf "$BASE/layout"
echo "== A holds $IMAGES images, $UNIQUE unique bytes" >&2

# --- export
"${OURS[@]}" bundle keygen --key "$BASE/keys/exporter.pem" > "$BASE/keygen.json"
measure ours-export "${OURS[@]}" bundle export --parent "http://127.0.0.1:$PORT_A" --registry benchsite \
  --repository 'bench/*' --key "$BASE/keys/exporter.pem" --output "$BASE/bundle.tar"
mkdir -p "$BASE/archives"
skopeo_each skopeo-export "docker://127.0.0.1:$PORT_A/bench/img-%s:v1" "oci-archive:$BASE/archives/img-%s.tar"
BUNDLE_BYTES=$(stat -c %s "$BASE/bundle.tar")
ARCHIVE_BYTES=$(cat "$BASE"/archives/*.tar | wc -c)

# --- import
KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["desired"]["bundles"]["trustedKeys"][0])' "$BASE/keygen.json")
mkdir -p "$BASE/site/data"
cat > "$BASE/desired.json" <<JSON
{ "schemaVersion": "1.0", "name": "benchsite", "mode": "ReadOnly",
  "sync": { "repositories": ["bench/*"] }, "bundles": { "trustedKeys": ["$KEY"] } }
JSON
measure ours-import "${OURS[@]}" bundle import --data "$BASE/site/data" --desired "$BASE/desired.json" "$BASE/bundle.tar"
skopeo_each skopeo-import "oci-archive:$BASE/archives/img-%s.tar" "docker://127.0.0.1:$PORT_B/bench/img-%s:v1"
for i in $(seq 0 $((IMAGES - 1))); do  # both sides hold every image
  n=$(printf %03d "$i")
  curl -sf -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://127.0.0.1:$PORT_B/v2/bench/img-$n/manifests/v1" || die "B lacks img-$n"
done
[[ $(find "$BASE/site/data/blobs" -type f | wc -l) -ge $((IMAGES * (LAYERS + 1))) ]] || die "the site lacks blobs after the import"

python3 - "$BASE" "$UNIQUE" "$BUNDLE_BYTES" "$ARCHIVE_BYTES" <<'PY'
import sys
base, unique, bundle, archives = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def m(name):
    t, r = open(f"{base}/{name}.m").read().split()
    return float(t), int(r) / 1024
rows = [("export", "ours-export", "skopeo-export"), ("import", "ours-import", "skopeo-import")]
print(f"content: {unique:,} unique bytes; bundle file {bundle:,} bytes, skopeo archives {archives:,} bytes")
print(f"{'':8} {'ours MB/s':>10} {'skopeo MB/s':>12} {'ratio':>6} {'ours peak MiB':>14} {'skopeo peak MiB':>16} {'ratio':>6}")
for label, ours, skopeo in rows:
    (to, ro), (ts, rs) = m(ours), m(skopeo)
    print(f"{label:8} {unique / 1e6 / to:10.1f} {unique / 1e6 / ts:12.1f} {ts / to:6.2f} {ro:14.1f} {rs:16.1f} {ro / rs:6.2f}")
print("(MB/s ratio = ours/skopeo throughput, > 1 is faster; memory ratio = ours/skopeo peak RSS)")
PY
