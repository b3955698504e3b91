#!/usr/bin/env bash
# A simulated year on a small disk (issue 22): a docker-registry parent on disk gets a new release of factory/a,
# factory/b and factory/c every simulated day (a 3-layer image: two layers shared by every release of the repository,
# one 20-40 MB layer that changes); the site (this module, standalone, ReadOnly) syncs factory/* with `newest: 10`
# onto a real 2 GiB tmpfs, with on-demand fetch on, the default storage.minFreeBytes (5 % of the volume) and eviction
# mark (3 x that), and garbage collection of untagged manifests. Each day: the parent gets the release, one sync pass
# (the syncNow direct method, through the data root's control socket as `ConnectedRegistry call` sends it; its end read
# from connected_registry_sync_passes_total), one garbage collection (the garbageCollect method, standing for the daily
# garbageCollection.schedule), a client pulls the newest release of each repository (manifest and blobs, each checked
# against its digest), and every OLD_EVERY-th day an old release of each (outside the newest 10: fetched on demand).
# Recorded per day ($BASE/days.jsonl): used bytes on the tmpfs (end of day and the day's highest, sampled every
# 0.1 s), DiskFull (status detail) and 507 answers, the pass's result, eviction and garbage-collection figures.
# At the end the parent is stopped and the newest 10 releases of each repository are pulled from the site.
# A second site without the rules (no `newest`, no retention, eviction mark = the minimum) syncs the same parent day
# by day on its own tmpfs of the same size, for real, until its disk fills (NO_RULES=real, the default); the day the
# same content would fill it is also computed from the unique bytes each day added.
# Time is compressed: passes run back to back, so the pin (storage.pinPulledWithin) and the garbage-collection grace
# are set in seconds (PIN, GC_GRACE) instead of days and hours.
#
#   sudo bench/year.sh                          # 365 days (the parent needs about 34 GB of disk; checked first)
#   sudo DAYS=30 LAYER_MB=5-10 bench/year.sh    # a quick look
#
# env: DAYS [365], LAYER_MB [20-40] (the changing layer's size range, MB = 10^6 bytes, or one number),
#      SHARED_MB [16,4] (the two shared layers), NEWEST [10], OLD_EVERY [7], VOLUME [2g] (tmpfs size),
#      PIN [PT30S] (storage.pinPulledWithin), GC_GRACE [00:00:01] (--gc-grace), NO_RULES [real|off],
#      SEED [year], PORT_PARENT [5400], PORT_SITE [5401], PORT_SITE_METRICS [5402], PORT_BARE [5403],
#      PORT_BARE_METRICS [5404], LIMIT_S [14400], BASE [a fresh temporary folder, deleted at the end unless KEEP=1],
#      OURS_DLL [this clone, built]. Runs as root (it mounts tmpfs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DAYS="${DAYS:-365}"; LAYER_MB="${LAYER_MB:-20-40}"; SHARED_MB="${SHARED_MB:-16,4}"; NEWEST="${NEWEST:-10}"
OLD_EVERY="${OLD_EVERY:-7}"; VOLUME="${VOLUME:-2g}"; PIN="${PIN:-PT30S}"; GC_GRACE="${GC_GRACE:-00:00:01}"
NO_RULES="${NO_RULES:-real}"; SEED="${SEED:-year}"
PORT_PARENT="${PORT_PARENT:-5400}"; PORT_SITE="${PORT_SITE:-5401}"; PORT_SITE_METRICS="${PORT_SITE_METRICS:-5402}"
PORT_BARE="${PORT_BARE:-5403}"; PORT_BARE_METRICS="${PORT_BARE_METRICS:-5404}"
LIMIT_S="${LIMIT_S:-14400}"
BASE="${BASE:-$(mktemp -d)}"
mkdir -p "$BASE"

BENCH_NAME=year
MOUNTS=()
bench_cleanup() {
  local m
  for m in "${MOUNTS[@]}"; do umount --lazy "$m" 2>/dev/null || true; done
}
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
for tool in docker-registry skopeo python3 curl dotnet mount; do command -v "$tool" >/dev/null || die "$tool is missing"; done
[[ $(id -u) == 0 ]] || die "run as root: the site's data volume is a tmpfs this script mounts"
[[ "$NO_RULES" == real || "$NO_RULES" == off ]] || die "NO_RULES is real or off"

# --- what the run needs: the parent keeps every release on disk; each site's volume is RAM
read -r LAYER_MIN LAYER_MAX <<<"$(awk -F- '{ print $1, ($2 == "" ? $1 : $2) }' <<<"$LAYER_MB")"
NEED=$(awk -v d="$DAYS" -v a="$LAYER_MIN" -v b="$LAYER_MAX" -v s="$SHARED_MB" 'BEGIN { split(s, x, ","); printf "%.0f", (d * 3 * (a + b) / 2 + 3 * (x[1] + x[2])) * 1e6 }')
AVAIL=$(df -B1 --output=avail "$BASE" | tail -1)
(( AVAIL > NEED + 5000000000 )) || die "the parent needs about $((NEED / 1000000000)) GB under $BASE and 5 GB to spare; $((AVAIL / 1000000000)) GB are free: set DAYS or LAYER_MB lower (or BASE elsewhere)"
VOLUME_BYTES=$(numfmt --from=iec "${VOLUME^^}")
VOLUMES=1; [[ "$NO_RULES" == real ]] && VOLUMES=2
MEM=$(awk '/MemAvailable/ { printf "%.0f", $2 * 1024 }' /proc/meminfo)
(( MEM > VOLUMES * VOLUME_BYTES + 2000000000 )) || die "$VOLUMES tmpfs of $VOLUME need that much memory and 2 GB to spare; $((MEM / 1000000)) MB available"
echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $DAYS days x 3 repositories, changing layer $LAYER_MIN-$LAYER_MAX MB, shared $SHARED_MB MB, newest $NEWEST, an old pull every ${OLD_EVERY}th day; volume $VOLUME; parent needs ~$((NEED / 1000000000)) GB of $((AVAIL / 1000000000)) GB free" >&2

build_ours
start_distribution parent "$PORT_PARENT"
PARENT_PID=${PIDS[-1]}

# --- the sites: SITE with the rules, BARE without (NO_RULES=real)
start_site() { # NAME PORT METRICS_PORT DESIRED_JSON: a tmpfs of VOLUME at $BASE/NAME-volume, the module on it
  local name=$1 port=$2 metrics=$3 volume="$BASE/$1-volume"
  mkdir -p "$volume" "$BASE/$name"
  mount -t tmpfs -o "size=$VOLUME" tmpfs "$volume"
  MOUNTS+=("$volume")
  echo "$4" > "$BASE/$name/desired.json"
  dotnet "$OURS_DLL" --urls "http://127.0.0.1:$port" --data "$volume/data" \
    --desired "$BASE/$name/desired.json" --reported "$BASE/$name/reported.json" --metrics-urls "http://127.0.0.1:$metrics" \
    --gc-grace "$GC_GRACE" --Twin:FilePollIntervalMs=100 --Logging:LogLevel:Default=Warning > "$BASE/$name.log" 2>&1 &
  PIDS+=($!)
  wait_up "$port" "$!" "$BASE/$name.log"
  # the desired document applied (until then every request but /v2/ is 503)
  for _ in $(seq 1 100); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/_catalog")" == 200 ]] && return 0
    sleep 0.1
  done
  cat "$BASE/$name.log" >&2; die "$name did not apply its desired document"
}
# A schedule whose window never opens during the run (29 February): every pass is a syncNow.
COMMON='"schemaVersion": "1.0", "mode": "ReadOnly", "anonymousPull": true, "parent": { "endpoint": "http://127.0.0.1:'"$PORT_PARENT"'" },
  "garbageCollection": { "deleteUntaggedManifests": true }'
start_site site "$PORT_SITE" "$PORT_SITE_METRICS" "{ $COMMON, \"name\": \"yearsite\",
  \"sync\": { \"schedule\": \"0 0 29 2 *\", \"repositories\": [\"factory/*\"], \"onDemand\": true,
              \"filters\": [{ \"repositories\": [\"factory/*\"], \"newest\": $NEWEST }] },
  \"storage\": { \"pinPulledWithin\": \"$PIN\" } }"
SITE_DATA="$BASE/site-volume/data"
# The documented way in: `ConnectedRegistry call` on the data root (the driver below speaks the same socket itself).
dotnet "$OURS_DLL" call getStatus --data "$SITE_DATA" > "$BASE/site-status.json" || die "call getStatus failed"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["desired"]["code"] == 200, s["desired"]' "$BASE/site-status.json" \
  || die "the site's desired document was not applied"
BARE_DATA=""
if [[ "$NO_RULES" == real ]]; then
  MIN_FREE=$(( VOLUME_BYTES / 20 < 1073741824 ? VOLUME_BYTES / 20 : 1073741824 ))
  start_site bare "$PORT_BARE" "$PORT_BARE_METRICS" "{ $COMMON, \"name\": \"yearbare\",
    \"sync\": { \"schedule\": \"0 0 29 2 *\", \"repositories\": [\"factory/*\"], \"onDemand\": true },
    \"storage\": { \"minFreeBytes\": $MIN_FREE, \"evictBelowFreeBytes\": $MIN_FREE } }"
  BARE_DATA="$BASE/bare-volume/data"
fi

# --- the driver: releases, passes, collections, pulls, and what each day left on the volumes
cat > "$BASE/driver.py" <<'PY'
import hashlib, http.client, json, os, random, re, socket, sys, threading, time
cfg = json.loads(sys.argv[1])
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REPOS = ["factory/a", "factory/b", "factory/c"]
end = time.time() + cfg["limit"]
rng = random.Random(cfg["seed"])
POOL = random.Random(cfg["seed"] + "-pool").randbytes(cfg["layer_max"] + (1 << 20))  # layers are slices of it, each with its own header

def request(port, method, path, body=None, headers=None, timeout=600):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    return c, r

def push_blob(repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    c, r = request(cfg["parent"], "POST", f"/v2/{repo}/blobs/uploads/")
    r.read(); loc = r.getheader("Location"); c.close()
    if r.status != 202: sys.exit(f"parent refused an upload of {repo}: {r.status}")
    loc = re.sub(r"^https?://[^/]+", "", loc)
    c, r = request(cfg["parent"], "PUT", f"{loc}{'&' if '?' in loc else '?'}digest={digest}", data, {"Content-Type": "application/octet-stream"})
    r.read(); c.close()
    if r.status != 201: sys.exit(f"parent refused {digest} of {repo}: {r.status}")
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": len(data)}

def layer(name, size):
    head = hashlib.sha256(f"{cfg['seed']}/{name}".encode()).digest()  # unique per release: no two layers share a digest
    offset = int.from_bytes(head[:4], "big") % (len(POOL) - size + 32)
    return head + POOL[offset:offset + size - 32]

shared = {}
def release(repo, day):
    """Pushes repo:1.0.<day>; returns (manifest digest, unique bytes it added at the parent)."""
    added = 0
    if repo not in shared:
        shared[repo] = [push_blob(repo, layer(f"{repo}/shared{i}", int(mb * 1e6))) for i, mb in enumerate(cfg["shared_mb"])]
        added += sum(d["size"] for d in shared[repo])
    size = int(rng.uniform(cfg["layer_min"], cfg["layer_max"]))
    changing = push_blob(repo, layer(f"{repo}/{day}", size))
    cfg_bytes = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"release": f"{repo}:1.0.{day}"}},
                            "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in shared[repo] + [changing]]}}).encode()
    config = push_blob(repo, cfg_bytes) | {"mediaType": "application/vnd.oci.image.config.v1+json"}
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": shared[repo] + [changing]}).encode()
    c, r = request(cfg["parent"], "PUT", f"/v2/{repo}/manifests/1.0.{day}", manifest, {"Content-Type": OCI_MANIFEST})
    r.read(); c.close()
    if r.status != 201: sys.exit(f"parent refused the manifest of {repo}:1.0.{day}: {r.status}")
    return "sha256:" + hashlib.sha256(manifest).hexdigest(), added + changing["size"] + len(cfg_bytes) + len(manifest)

def pull(port, repo, ref, expect=None):
    """A client's pull: the manifest, then every blob, each checked. (whole, statuses, bytes)"""
    statuses, n, ok = [], 0, True
    c, r = request(port, "GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
    body = r.read(); statuses.append(r.status)
    if r.status != 200:
        return False, statuses, 0
    if expect and "sha256:" + hashlib.sha256(body).hexdigest() != expect:
        ok = False
    m = json.loads(body)
    for d in [m["config"]] + m["layers"]:
        c.request("GET", f"/v2/{repo}/blobs/{d['digest']}")
        r = c.getresponse(); statuses.append(r.status)
        h = hashlib.sha256()
        while chunk := r.read(1 << 20):
            h.update(chunk); n += len(chunk)
        ok &= r.status == 200 and "sha256:" + h.hexdigest() == d["digest"]
    c.close()
    return ok, statuses, n

def call(data, method, payload=""):
    """A direct method through the data root's control socket: the one line `ConnectedRegistry call` sends."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(600)
    s.connect(os.path.join(data, "control.sock"))
    s.sendall((json.dumps({"method": method, "payload": payload}) + "\n").encode())
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(1 << 16)
        if not chunk: break
        buf += chunk
    s.close()
    answer = json.loads(buf)
    if answer["status"] >= 300: sys.exit(f"{method} answered {answer}")
    return answer["payload"]

def metrics(port):
    c, r = request(port, "GET", "/metrics", timeout=30)
    text = r.read().decode(); c.close()
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip(): continue
        name_labels, value = line.rsplit(" ", 1) if " " in line else (line, "0")
        name = name_labels.split("{")[0]
        result = re.search(r'result="([^"]+)"', name_labels)
        key = name + (":" + result.group(1) if result and name.endswith("sync_passes_total") else "")
        out[key] = out.get(key, 0.0) + float(value)
    return out

def passes(m):
    return {k.split(":", 1)[1]: v for k, v in m.items() if k.startswith("connected_registry_sync_passes_total:")}

class Volume:
    """Used bytes of a tmpfs, sampled every 0.1 s: the highest since the last take()."""
    def __init__(self, path):
        self.path, self.high, self.lowest_free = path, 0, None
        threading.Thread(target=self.run, daemon=True).start()
    def read(self):
        s = os.statvfs(self.path)
        return (s.f_blocks - s.f_bfree) * s.f_frsize, s.f_bavail * s.f_frsize, s.f_blocks * s.f_frsize
    def run(self):
        while True:
            used, free, _ = self.read()
            self.high = max(self.high, used)
            self.lowest_free = free if self.lowest_free is None else min(self.lowest_free, free)
            time.sleep(0.1)
    def take(self):
        used, free, total = self.read()
        high, self.high = max(self.high, used), used
        return used, free, total, high

sites = [s | {"volume": Volume(s["volume"]), "active": True, "olds": {}} for s in cfg["sites"]]
digests = {}
out = open(cfg["out"], "w")
started = time.time()
for day in range(1, cfg["days"] + 1):
    if time.time() > end: sys.exit(f"time limit reached on day {day}")
    t0 = time.time()
    added = 0
    for repo in REPOS:
        digests[(repo, day)], a = release(repo, day)
        added += a
    t_push = time.time() - t0
    for site in sites:
        if not site["active"]: continue
        port, data = site["port"], site["data"]
        before = passes(metrics(site["metrics"]))
        t1 = time.time()
        call(data, "syncNow")
        while True:  # the pass's end: connected_registry_sync_passes_total moved
            now = passes(metrics(site["metrics"]))
            moved = {k: now[k] - before.get(k, 0) for k in now if now[k] > before.get(k, 0)}
            if moved: break
            if time.time() > end: sys.exit(f"{site['name']}: no end of the pass of day {day} before the time limit")
            time.sleep(0.1)
        t_pass = time.time() - t1
        gc = call(data, "garbageCollect")
        statuses, pulled, newest_ok = [], 0, True
        for repo in REPOS:
            ok, st, n = pull(port, repo, f"1.0.{day}", digests[(repo, day)])
            newest_ok &= ok; statuses += st; pulled += n
        old_ok = old_failed = 0
        if day % cfg["old_every"] == 0 and day > cfg["newest"]:
            for repo in REPOS:
                old = rng.randint(1, day - cfg["newest"])
                ok, st, n = pull(port, repo, f"1.0.{old}", digests[(repo, old)])
                statuses += st; pulled += n
                if ok: old_ok += 1; site["olds"][(repo, old)] = day
                else: old_failed += 1
        status = call(data, "getStatus")["reported"]
        m = metrics(site["metrics"])
        used, free, total, high = site["volume"].take()
        codes = [d.get("code") for d in status.get("statusDetails") or []]
        rec = {"site": site["name"], "day": day, "used": used, "free": free, "total": total, "high": high,
               "diskFull": "DiskFull" in codes, "s507": statuses.count(507), "statuses": sorted(set(statuses)),
               "newestOk": newest_ok, "oldOk": old_ok, "oldFailed": old_failed, "pass": moved, "passSeconds": round(t_pass, 2),
               "connectionState": status.get("connectionState"), "lastError": (status.get("sync") or {}).get("lastError"),
               "gcBytesFreed": gc.get("bytesFreed"), "gcManifestsDeleted": gc.get("manifestsDeleted"),
               "evictedManifests": m.get("connected_registry_evicted_manifests_total", 0), "evictedBytes": m.get("connected_registry_evicted_bytes_total", 0),
               "lowestFree": site["volume"].lowest_free, "pulledBytes": pulled, "addedAtParent": added, "pushSeconds": round(t_push, 2)}
        out.write(json.dumps(rec) + "\n"); out.flush()
        if site["stopWhenFull"] and (rec["diskFull"] or not newest_ok):
            site["active"] = False  # filled: the day is recorded; it is not driven further
        if day % 10 == 0 or day == cfg["days"] or not site["active"]:
            print(f"{site['name']} day {day}: used {used / 2**20:.0f} MiB (high {high / 2**20:.0f}), pass {t_pass:.1f} s {moved}, "
                  f"DiskFull {rec['diskFull']}, 507s {rec['s507']}, evicted {rec['evictedManifests']:.0f}, {time.time() - started:.0f} s so far", file=sys.stderr)
json.dump({"olds": [[r, o, d] for (r, o), d in sites[0]["olds"].items()], "digests": [[r, d, v] for (r, d), v in digests.items()]},
          open(cfg["state"], "w"))
PY

SITES="[{\"name\": \"site\", \"port\": $PORT_SITE, \"metrics\": $PORT_SITE_METRICS, \"data\": \"$SITE_DATA\", \"volume\": \"$BASE/site-volume\", \"stopWhenFull\": false}"
[[ -n "$BARE_DATA" ]] && SITES="$SITES, {\"name\": \"bare\", \"port\": $PORT_BARE, \"metrics\": $PORT_BARE_METRICS, \"data\": \"$BARE_DATA\", \"volume\": \"$BASE/bare-volume\", \"stopWhenFull\": true}"
SITES="$SITES]"
CFG=$(python3 -c 'import json,sys; a=sys.argv; print(json.dumps({"parent": int(a[1]), "days": int(a[2]), "layer_min": int(float(a[3]) * 1e6),
  "layer_max": int(float(a[4]) * 1e6), "shared_mb": [float(x) for x in a[5].split(",")], "newest": int(a[6]), "old_every": int(a[7]),
  "seed": a[8], "limit": float(a[9]), "sites": json.loads(a[10]), "out": a[11], "state": a[12]}))' \
  "$PORT_PARENT" "$DAYS" "$LAYER_MIN" "$LAYER_MAX" "$SHARED_MB" "$NEWEST" "$OLD_EVERY" "$SEED" "$(left)" "$SITES" "$BASE/days.jsonl" "$BASE/state.json")
T0=$(now)
python3 "$BASE/driver.py" "$CFG" || die "the driver failed (days so far in $BASE/days.jsonl; KEEP=1 keeps them)"
T1=$(now)

# --- the parent gone: the newest NEWEST releases of each repository from the site alone, and the old pulls still here
kill "$PARENT_PID"; wait "$PARENT_PID" 2>/dev/null || true
curl -s -o /dev/null "http://127.0.0.1:$PORT_PARENT/v2/" && die "the parent still answers"
python3 - "$PORT_SITE" "$DAYS" "$NEWEST" "$BASE/state.json" > "$BASE/offline.json" <<'PY'
import hashlib, http.client, json, sys
port, days, newest, state = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), json.load(open(sys.argv[4]))
digests = {(r, d): v for r, d, v in state["digests"]}
def pull(repo, ref, expect):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    r = c.getresponse(); body = r.read()
    if r.status != 200 or "sha256:" + hashlib.sha256(body).hexdigest() != expect: return False
    m = json.loads(body)
    for d in [m["config"]] + m["layers"]:
        c.request("GET", f"/v2/{repo}/blobs/{d['digest']}"); r = c.getresponse(); h = hashlib.sha256()
        while chunk := r.read(1 << 20): h.update(chunk)
        if r.status != 200 or "sha256:" + h.hexdigest() != d["digest"]: return False
    return True
newest_ok = sum(pull(r, f"1.0.{d}", digests[(r, d)]) for r in ("factory/a", "factory/b", "factory/c") for d in range(max(1, days - newest + 1), days + 1))
olds = state["olds"]
olds_ok = sum(pull(r, f"1.0.{o}", digests[(r, o)]) for r, o, _ in olds)
json.dump({"newestOk": newest_ok, "newestTotal": 3 * min(newest, days), "oldsOk": olds_ok, "oldsTotal": len(olds)}, sys.stdout)
PY
# and one with skopeo, an independent client, into a dir
timeout "$(left)" skopeo --insecure-policy copy -q --src-tls-verify=false "docker://127.0.0.1:$PORT_SITE/factory/a:1.0.$DAYS" "dir:$BASE/skopeo-check" \
  && SKOPEO=ok || SKOPEO=failed

python3 - "$BASE/days.jsonl" "$BASE/offline.json" "$SKOPEO" "$(sub "$T1" "$T0")" "$NO_RULES" "$DAYS" <<'PY'
import collections, json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
offline, skopeo, seconds, no_rules, days = json.load(open(sys.argv[2])), sys.argv[3], float(sys.argv[4]), sys.argv[5], int(sys.argv[6])
site = [r for r in rows if r["site"] == "site"]
bare = [r for r in rows if r["site"] == "bare"]
total = site[-1]["total"]
min_free = min(1 << 30, total // 20)
mark = 3 * min_free
high = max(r["high"] for r in site)
gib = 2 ** 30
results = collections.Counter()
for r in site:
    results.update({k: int(v) for k, v in r["pass"].items()})
print(f"simulated year: {len(site)} days of {days} run in {seconds:.0f} s ({seconds / max(1, len(site)):.1f} s a day, both sites), volume {total / gib:.2f} GiB,"
      f" storage.minFreeBytes {min_free / 2**20:.0f} MiB, eviction mark {mark / 2**20:.0f} MiB free (used at most {(total - mark) / 2**20:.0f} MiB)")
print(f"with the rules (newest 10, eviction, daily garbage collection):")
print(f"  max used bytes {high} ({high / 2**20:.0f} MiB): {high / total:.3f} of the volume, {high / (total - mark):.3f} of the eviction high-water mark (volume - mark);"
      f" lowest free {min(r['lowestFree'] for r in site) / 2**20:.0f} MiB = {min(r['lowestFree'] for r in site) / min_free:.2f} x the minimum")
print(f"  end of day used bytes: median {sorted(r['used'] for r in site)[len(site) // 2] / 2**20:.0f} MiB, last {site[-1]['used'] / 2**20:.0f} MiB")
print(f"  DiskFull on {sum(r['diskFull'] for r in site)} days; 507 answers {sum(r['s507'] for r in site)}; other non-200 answers on {sum(any(s != 200 for s in r['statuses']) for r in site)} days;"
      f" pass results {dict(results)}")
print(f"  newest release pulled whole on {sum(r['newestOk'] for r in site)} of {len(site)} days; old releases on demand: {sum(r['oldOk'] for r in site)} OK, {sum(r['oldFailed'] for r in site)} failed")
print(f"  eviction: {site[-1]['evictedManifests']:.0f} manifests, {site[-1]['evictedBytes'] / 2**20:.0f} MiB; garbage collection freed {sum(r['gcBytesFreed'] or 0 for r in site) / 2**20:.0f} MiB"
      f" ({sum(r['gcManifestsDeleted'] or 0 for r in site)} manifests); pass time median {sorted(r['passSeconds'] for r in site)[len(site) // 2]} s, max {max(r['passSeconds'] for r in site)} s")
print(f"  parent stopped: newest {offline['newestOk']} of {offline['newestTotal']} releases pulled whole from the site; old on-demand pulls still here {offline['oldsOk']} of {offline['oldsTotal']}; skopeo copy of factory/a:1.0.{days}: {skopeo}")
unique, computed = 0, None
for r in site:
    unique += r["addedAtParent"]
    if computed is None and unique > total - min_free:
        computed = r["day"]
print(f"without the rules: unique bytes of the releases {unique / 2**30:.2f} GiB = {unique / total:.1f} x the volume;"
      f" computed from them, the volume would go below the minimum on day {computed if computed else f'> {len(site)}'}")
if no_rules == "real" and bare:
    full = next((r["day"] for r in bare if r["diskFull"] or not r["newestOk"]), None)
    b = bare[-1]
    print(f"  run for real (a second site on its own {total / gib:.2f} GiB tmpfs, no newest, no eviction): "
          + (f"full on day {full}: that day's pass {b['pass']}, DiskFull reported: {b['diskFull']}, newest release pulled: {b['newestOk']} ({b['s507']} answers 507),"
             f" used {b['used'] / 2**20:.0f} MiB, sync.lastError: {b['lastError']}"
             if full else f"not full after {len(bare)} days (used {b['used'] / 2**20:.0f} MiB)"))
PY
echo "== load at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
