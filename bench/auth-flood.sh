#!/usr/bin/env bash
# A flood of Basic logins from one address with no X-Forwarded-For (how the stock IoT Edge API proxy forwards every
# client: loopback is a trusted proxy by default, so the registry cannot tell the clients apart) for FLOOD_S seconds,
# while a client pulls with a bearer token: CONNS keep-alive connections, all but one sending made-up names (a fresh
# one each request), the last one wrong passwords for 'ro', the name under attack. Prints one JSON line: the pull's
# manifest GET p50 during the flood against unloaded (goal <= 2x), how 'ro''s owner fares when it signs in during the
# flood (a first Basic login on /v2/ and a token request: it must get in at once), the flood's requests and answers,
# and the registry's CPU seconds over the flood (bench/auth-flood.py does the measuring).
#
#   bench/auth-flood.sh                   # FLOOD_S=30 CONNS=64
#
# env: PORT [5321], FLOOD_S [30], CONNS [64], N [200] (requests of the unloaded p50), BASE [a fresh temporary folder,
#      deleted at the end unless KEEP=1], OURS_DLL [this clone, built].
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PORT="${PORT:-5321}"; FLOOD_S="${FLOOD_S:-30}"; CONNS="${CONNS:-64}"; N="${N:-200}"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
build_ours

token() { # NAME SCOPE: prints the token command's JSON for a client token NAME with SCOPE
  dotnet "$OURS_DLL" token create --name "$1" --scope "$2"
}
field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$1"; }
RO=$(token ro 'bench/*=content/read,metadata/read')
PULLER=$(token puller 'bench/*=content/read,metadata/read')
PUSHER=$(token pusher 'bench/*=content/write,content/read')
python3 - "$BASE/desired.json" "$RO" "$PULLER" "$PUSHER" <<'PY'
import json, sys
tokens = {}
for text in sys.argv[2:]:
    tokens.update(json.loads(text)["clientTokens"])
json.dump({"schemaVersion": "1.0", "name": "bench-registry", "mode": "ReadWrite", "clientTokens": tokens}, open(sys.argv[1], "w"))
PY

dotnet "$OURS_DLL" --urls "http://127.0.0.1:$PORT" --data "$BASE/data" --desired "$BASE/desired.json" \
  --reported "$BASE/reported.json" --metrics-urls '' > "$BASE/registry.log" 2>&1 &
PID=$!
PIDS+=("$PID")
for _ in $(seq 1 300); do
  [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/")" == 401 ]] && break
  kill -0 "$PID" 2>/dev/null || { cat "$BASE/registry.log" >&2; die "registry exited"; }
  sleep 0.1
done

# One small image, pushed with Basic credentials.
PUSH_AUTH="pusher:$(field '["password"]' <<<"$PUSHER")"
echo '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' > "$BASE/config.json"
head -c 4096 /dev/urandom > "$BASE/layer.bin"
push_blob() { # FILE: prints the digest
  local digest location
  digest="sha256:$(sha256sum "$1" | cut -d' ' -f1)"
  location=$(curl -s -u "$PUSH_AUTH" -D - -o /dev/null -X POST "http://127.0.0.1:$PORT/v2/bench/app/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:" {print $2}')
  [[ "$location" == http* ]] || location="http://127.0.0.1:$PORT$location"
  curl -sf -u "$PUSH_AUTH" -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$1" "$location?digest=$digest" -o /dev/null || die "push of $1 failed"
  echo "$digest"
}
CONFIG_DIGEST=$(push_blob "$BASE/config.json"); LAYER_DIGEST=$(push_blob "$BASE/layer.bin")
cat > "$BASE/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$CONFIG_DIGEST","size":$(stat -c %s "$BASE/config.json")},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"$LAYER_DIGEST","size":4096}]}
JSON
curl -sf -u "$PUSH_AUTH" -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$BASE/manifest.json" \
  "http://127.0.0.1:$PORT/v2/bench/app/manifests/v1" -o /dev/null || die "manifest push failed"

# The puller's bearer token (a password-free request from then on); 'ro' itself has not signed in yet.
BEARER=$(curl -sf -u "puller:$(field '["password"]' <<<"$PULLER")" \
  "http://127.0.0.1:$PORT/acr/oauth2/token?service=bench&scope=repository:bench/app:pull" | field '["token"]')

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores" >&2
python3 "$ROOT/bench/auth-flood.py" --host "127.0.0.1:$PORT" --repo bench/app --ref v1 --bearer "$BEARER" \
  --user ro --password "$(field '["password"]' <<<"$RO")" --seconds "$FLOOD_S" --conns "$CONNS" --n "$N" --pid "$PID"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
