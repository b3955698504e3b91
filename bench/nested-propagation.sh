#!/usr/bin/env bash
# Nested-layout benchmark: how long a `docker push` at the top layer takes to reach the lower layer through the
# IoT Edge API proxy. The real parts of a nested layout on one machine: a cloud stand-in (docker-registry with
# htpasswd) -> this module ReadWrite (top layer, the lower layer registered as its child) -> nginx running the
# stock API proxy configuration (TLS with a CA made here; /v2 and /acr forwarded) -> this module ReadOnly (lower
# layer, parent endpoint = the proxy's https address), and a private dockerd pushing at the top through the proxy.
# Both modules run with their default schedule (continuous: a pass, 30 s idle, the next), so what brings the
# image down within seconds is the lower layer's long poll of the change feed through the proxy.
#
# Per iteration: a fresh image of one layer is pushed (docker push through the proxy, the anchor measured in the
# same run), then the lower layer's /v2 is polled every 50 ms until it serves the manifest. Prints the push
# time, the propagation time after the push returned, and their ratio; medians over the iterations. Goal: the
# propagation <= 5 s.
#
#   sudo bench/nested-propagation.sh              # defaults: 5 iterations, 1 MiB layer
#   ITERATIONS=10 LAYER_KIB=16384 sudo bench/nested-propagation.sh
#
# env: ITERATIONS [5], LAYER_KIB [1024], PORT_CLOUD [5320], PORT_TOP [5321], PORT_PROXY [5322] (on this
#      machine's first non-loopback IPv4 address: Docker treats 127.0.0.0/8 as insecure and would not verify
#      TLS there), PORT_LOWER [5323], BASE [a fresh temporary folder under /tmp, deleted at the end unless
#      KEEP=1], LIMIT_S [600] (the whole run; every wait is bounded by it), OURS_DLL [this clone, built].
# Needs root (a private dockerd), and docker.io, nginx-light, docker-registry, apache2-utils, openssl, curl,
# python3, the .NET SDK.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export PATH="$PATH:/usr/sbin:/sbin"
ITERATIONS="${ITERATIONS:-5}"; LAYER_KIB="${LAYER_KIB:-1024}"; LIMIT_S="${LIMIT_S:-600}"
PORT_CLOUD="${PORT_CLOUD:-5320}"; PORT_TOP="${PORT_TOP:-5321}"; PORT_PROXY="${PORT_PROXY:-5322}"; PORT_LOWER="${PORT_LOWER:-5323}"
[[ "$(id -u)" == 0 ]] || { echo "run as root: the benchmark starts a private dockerd" >&2; exit 1; }
for tool in dockerd docker nginx docker-registry htpasswd openssl curl python3 dotnet; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install docker.io nginx-light docker-registry apache2-utils openssl curl)" >&2; exit 1; }
done
EXT_IP=$(hostname -I | tr ' ' '\n' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' | grep -v '^127\.' | head -n 1)
[[ -n "$EXT_IP" ]] || { echo "no IPv4 address outside 127.0.0.0/8 on this machine" >&2; exit 1; }
BASE="${BASE:-$(mktemp -d /tmp/nested-bench.XXXXXX)}"
mkdir -p "$BASE"
CERTS_D="/etc/docker/certs.d/$EXT_IP:$PORT_PROXY"
[[ -e "$CERTS_D" ]] && { echo "$CERTS_D exists already; not overwriting it" >&2; exit 1; }
DOCKERD_PID=""
CREATED_CERTS_PARENT=0
bench_cleanup() { # the private dockerd stops its containerd when asked nicely; the CA goes from certs.d
  if [[ -n "$DOCKERD_PID" ]]; then
    kill -TERM "$DOCKERD_PID" 2>/dev/null || true
    for _ in $(seq 1 200); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DOCKERD_PID" 2>/dev/null || true
  fi
  rm -rf "$CERTS_D"
  if [[ "$CREATED_CERTS_PARENT" == 1 ]]; then rmdir /etc/docker/certs.d 2>/dev/null || true; fi
}
BENCH_NAME=nested-propagation
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
wait_for() { # WHAT COMMAND... : retries the command every 0.1 s until it succeeds or the time limit
  local what="$1"; shift
  until "$@" >/dev/null 2>&1; do left >/dev/null || die "waiting for $what"; sleep 0.1; done
}

echo "building the module ..." >&2
build_ours
DLL="$OURS_DLL"

# --- cloud stand-in: docker-registry with htpasswd
CLOUD_USER=cloudsync; CLOUD_PASSWORD="cloud-$(openssl rand -hex 8)"
htpasswd -Bbn "$CLOUD_USER" "$CLOUD_PASSWORD" > "$BASE/htpasswd"
distribution_config cloud "$PORT_CLOUD" "$BASE/htpasswd"
docker-registry serve "$BASE/cloud.yml" > "$BASE/cloud.log" 2>&1 &
PIDS+=($!)

# --- tokens: an admin client token for both layers, the lower layer's sync token at the top
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(json.dumps(eval(sys.argv[1])))" "$1"; }
ADMIN=$(dotnet "$DLL" token create --name admin --scope '*=content/read,content/write,content/delete,metadata/read,metadata/write')
ADMIN_PASSWORD=$(json 'd["password"]' <<<"$ADMIN" | tr -d '"')
ADMIN_TOKENS=$(json 'd["clientTokens"]' <<<"$ADMIN")
LOWER=$(dotnet "$DLL" token create --sync --name benchlower1 --mode ReadOnly --repository 'bench/*')
LOWER_PASSWORD=$(json 'd["password"]' <<<"$LOWER" | tr -d '"')
LOWER_CHILDREN=$(json 'd["children"]' <<<"$LOWER")

# --- top layer: ReadWrite, the cloud as its parent, the lower layer as its child
mkdir -p "$BASE/top"
cat > "$BASE/top/desired.json" <<JSON
{ "schemaVersion": "1.0", "name": "benchtop1", "mode": "ReadWrite",
  "parent": { "endpoint": "http://127.0.0.1:$PORT_CLOUD", "syncTokenName": "$CLOUD_USER" },
  "sync": { "repositories": ["bench/*"] }, "clientTokens": $ADMIN_TOKENS, "children": $LOWER_CHILDREN }
JSON
PARENT_SYNC_TOKEN_PASSWORD="$CLOUD_PASSWORD" dotnet "$DLL" --urls "http://127.0.0.1:$PORT_TOP" --metrics-urls "http://127.0.0.1:$((PORT_TOP + 10))" --data "$BASE/top/data" \
  --desired "$BASE/top/desired.json" --reported "$BASE/top/reported.json" --Logging:LogLevel:Default Warning > "$BASE/top.log" 2>&1 &
PIDS+=($!)

# --- the API proxy: nginx with the stock configuration, TLS from a CA made here
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "/CN=Bench Edge CA" \
  -keyout "$BASE/ca.key" -out "$BASE/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=parent-device" \
  -keyout "$BASE/server.key" -out "$BASE/server.csr" 2>/dev/null
printf 'subjectAltName=IP:%s,DNS:parent-device\nextendedKeyUsage=serverAuth\n' "$EXT_IP" > "$BASE/server.ext"
openssl x509 -req -in "$BASE/server.csr" -CA "$BASE/ca.crt" -CAkey "$BASE/ca.key" -CAcreateserial -days 1 \
  -extfile "$BASE/server.ext" -out "$BASE/server.crt" 2>/dev/null
# nginx's workers run unprivileged and spool request bodies (blob uploads) here
chmod 755 "$BASE"; mkdir -p "$BASE/nginx-temp"; chmod 777 "$BASE/nginx-temp"
cat > "$BASE/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $BASE/nginx.pid;
error_log $BASE/nginx-error.log warn;
events { worker_connections 512; }
http {
    client_body_temp_path $BASE/nginx-temp/body;
    proxy_temp_path $BASE/nginx-temp/proxy;
    fastcgi_temp_path $BASE/nginx-temp/fastcgi;
    uwsgi_temp_path $BASE/nginx-temp/uwsgi;
    scgi_temp_path $BASE/nginx-temp/scgi;
    access_log off;
    # the stock IoT Edge API proxy configuration for a connected registry, unchanged but for the variables
    proxy_buffers 32 160k;
    proxy_buffer_size 160k;
    proxy_read_timeout 3600;
    server {
        listen $EXT_IP:$PORT_PROXY ssl default_server;
        chunked_transfer_encoding on;
        ssl_certificate        $BASE/server.crt;
        ssl_certificate_key    $BASE/server.key;
        location /v2 {
            client_max_body_size 1000G;
            proxy_http_version 1.1;
            proxy_pass http://127.0.0.1:$PORT_TOP;
            proxy_set_header X-Forwarded-Host \$http_host;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
        location /acr {
            client_max_body_size 10M;
            proxy_http_version 1.1;
            proxy_pass http://127.0.0.1:$PORT_TOP;
            proxy_set_header X-Forwarded-Host \$http_host;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
        location / {
            return 403;
        }
    }
}
NGINX
nginx -p "$BASE/" -c "$BASE/nginx.conf" -e "$BASE/nginx-error.log" &
PIDS+=($!)

# --- lower layer: ReadOnly, the proxy's https address as its parent, trusting the CA made here
mkdir -p "$BASE/lower"
cat > "$BASE/lower/desired.json" <<JSON
{ "schemaVersion": "1.0", "name": "benchlower1", "mode": "ReadOnly",
  "parent": { "endpoint": "https://$EXT_IP:$PORT_PROXY" },
  "sync": { "repositories": ["bench/*"] }, "clientTokens": $ADMIN_TOKENS }
JSON
PARENT_SYNC_TOKEN_PASSWORD="$LOWER_PASSWORD" PARENT_CA_FILE="$BASE/ca.crt" dotnet "$DLL" --urls "http://127.0.0.1:$PORT_LOWER" --metrics-urls "http://127.0.0.1:$((PORT_LOWER + 10))" \
  --data "$BASE/lower/data" --desired "$BASE/lower/desired.json" --reported "$BASE/lower/reported.json" \
  --Logging:LogLevel:Default Warning > "$BASE/lower.log" 2>&1 &
PIDS+=($!)

# --- a private dockerd, trusting the proxy's CA
[[ -d /etc/docker/certs.d ]] || CREATED_CERTS_PARENT=1
mkdir -p "$CERTS_D"; cp "$BASE/ca.crt" "$CERTS_D/ca.crt"
echo '{}' > "$BASE/daemon.json"
mkdir -p "$BASE/d"
dockerd --data-root "$BASE/d/data" --exec-root "$BASE/d/exec" -H "unix://$BASE/d/docker.sock" --pidfile "$BASE/d/dockerd.pid" \
  --config-file "$BASE/daemon.json" --storage-driver=vfs --iptables=false --bridge=none --insecure-registry=127.0.0.0/8 > "$BASE/dockerd.log" 2>&1 &
DOCKERD_PID=$!
export DOCKER_HOST="unix://$BASE/d/docker.sock" DOCKER_CONFIG="$BASE/docker-client"

echo "waiting for the parts ..." >&2
wait_for "the cloud stand-in" curl -s -o /dev/null "http://127.0.0.1:$PORT_CLOUD/v2/"
wait_for "the top layer" curl -sf -o /dev/null -u "admin:$ADMIN_PASSWORD" "http://127.0.0.1:$PORT_TOP/v2/"
wait_for "the proxy" curl -sf -o /dev/null --cacert "$BASE/ca.crt" -u "admin:$ADMIN_PASSWORD" "https://$EXT_IP:$PORT_PROXY/v2/"
wait_for "the lower layer" curl -sf -o /dev/null -u "admin:$ADMIN_PASSWORD" "http://127.0.0.1:$PORT_LOWER/v2/"
wait_for "dockerd" docker version
lower_active() { python3 - "$BASE/lower/reported.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
codes = [d.get("code") for d in r.get("statusDetails") or []]
sys.exit(0 if r.get("activationState") == "Active" and "ActivatedLocally" not in codes and "ParentApiBlocked" not in codes else 1)
PY
}
wait_for "the lower layer to activate at the top through the proxy" lower_active
docker login -u admin --password-stdin "$EXT_IP:$PORT_PROXY" <<<"$ADMIN_PASSWORD" >/dev/null 2>&1 || die "docker login through the proxy failed"
sleep 2 # the lower layer's first long poll is waiting at the top

PUSH=(); PROPAGATION=()
ACCEPT='application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.manifest.v1+json'
for i in $(seq 1 "$ITERATIONS"); do
  mkdir -p "$BASE/img$i"; head -c "$(( LAYER_KIB * 1024 ))" /dev/urandom > "$BASE/img$i/payload.bin"
  tar -C "$BASE/img$i" -cf "$BASE/img$i.tar" payload.bin
  ref="$EXT_IP:$PORT_PROXY/bench/app:i$i"
  docker import "$BASE/img$i.tar" "$ref" >/dev/null
  t0=$(now)
  docker push "$ref" >/dev/null || die "docker push $ref failed"
  t1=$(now)
  until [[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $ACCEPT" -u "admin:$ADMIN_PASSWORD" "http://127.0.0.1:$PORT_LOWER/v2/bench/app/manifests/i$i")" == 200 ]]; do
    left >/dev/null; sleep 0.05
  done
  t2=$(now)
  PUSH+=("$(sub "$t1" "$t0")"); PROPAGATION+=("$(sub "$t2" "$t1")")
  echo "iteration $i: push ${PUSH[-1]} s, then at the lower layer after ${PROPAGATION[-1]} s" >&2
  docker image rm -f "$ref" >/dev/null
  sleep 1
done

push_median=$(printf '%s\n' "${PUSH[@]}" | median)
prop_median=$(printf '%s\n' "${PROPAGATION[@]}" | median)
prop_max=$(printf '%s\n' "${PROPAGATION[@]}" | sort -g | tail -n 1)
ratio=$(awk -v a="$prop_median" -v b="$push_median" 'BEGIN { printf "%.2f", a / b }')
echo
echo "nested propagation, $ITERATIONS iterations of one ${LAYER_KIB} KiB layer, medians:"
echo "  docker push at the top through the API proxy (anchor): ${push_median} s"
echo "  push returned -> manifest served by the lower layer:   ${prop_median} s (max ${prop_max} s; goal <= 5 s)"
echo "  ratio propagation / push:                              ${ratio}"
