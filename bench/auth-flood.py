#!/usr/bin/env python3
"""Flood of Basic logins against one registry, from one address and with no X-Forwarded-For (as the stock IoT Edge
API proxy forwards them), while a client pulls with a bearer token. Three phases:

  1. unloaded: the client's manifest GET p50 (N requests on one keep-alive connection);
  2. flood, SECONDS long: CONNS connections each send GET /v2/ with Basic credentials in a loop, all but one of them
     made-up names (a fresh name each request), the last one wrong passwords for the name under attack; meanwhile the
     client's manifest GET p50 is measured again, and once the flood runs the owner of the name under attack signs in
     (a fresh Basic login on /v2/ and a token request) and its answer and time are recorded;
  3. the registry's CPU seconds over the flood (from /proc, when --pid is given).

Prints one JSON object.

    bench/auth-flood.py --host 127.0.0.1:5321 --repo bench/app --ref v1 --bearer TOKEN --user ro --password PW \
        [--seconds 30] [--conns 32] [--n 200] [--pid PID]
"""
import argparse
import asyncio
import base64
import http.client
import json
import os
import statistics
import threading
import time

ACCEPT = "application/vnd.oci.image.manifest.v1+json"


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def pull_p50(host, path, bearer, n, stop=None):
    conn = http.client.HTTPConnection(host, timeout=30)
    times = []
    for _ in range(n):
        if stop is not None and stop.is_set():
            break
        t0 = time.perf_counter()
        conn.request("GET", path, headers={"Accept": ACCEPT, "Authorization": "Bearer " + bearer})
        r = conn.getresponse()
        r.read()
        times.append((time.perf_counter() - t0) * 1000.0)
        if r.status != 200:
            raise SystemExit("GET %s -> HTTP %d" % (path, r.status))
    conn.close()
    return statistics.median(times), len(times)


def timed(host, method, path, auth):
    conn = http.client.HTTPConnection(host, timeout=60)
    t0 = time.perf_counter()
    conn.request(method, path, headers={"Authorization": auth})
    r = conn.getresponse()
    r.read()
    conn.close()
    return r.status, round((time.perf_counter() - t0) * 1000.0, 1)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def flood_connection(host, port, user_of, deadline, counts):
    reader, writer = await asyncio.open_connection(host, port)
    i = 0
    try:
        while time.monotonic() < deadline:
            user, password = user_of(i)
            i += 1
            writer.write(("GET /v2/ HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: %s\r\n\r\n" % (host, port, basic(user, password))).encode())
            await writer.drain()
            status_line = await reader.readline()
            if not status_line:  # closed by the server: a new connection
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            status = int(status_line.split()[1])
            length = 0
            chunked = close = False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value.strip())
                elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
                    chunked = True
                elif name.lower() == "connection" and value.strip().lower() == "close":
                    close = True
            if chunked:
                while True:
                    size = int((await reader.readline()).strip().split(b";")[0], 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            elif length:
                await reader.readexactly(length)
            counts[status] = counts.get(status, 0) + 1
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


def run_flood(host, conns, seconds, attacked, counts, started):
    name, port = host.rsplit(":", 1)
    deadline = time.monotonic() + seconds

    def unknown(c):
        return lambda i: ("nobody-%d-%d" % (c, i), "guess-%d" % i)

    async def main():
        tasks = [flood_connection(name, int(port), unknown(c), deadline, counts) for c in range(conns - 1)]
        tasks.append(flood_connection(name, int(port), lambda i: (attacked, "wrong-%d" % i), deadline, counts))
        started.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("--ref", required=True)
    p.add_argument("--bearer", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--conns", type=int, default=32)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--pid", type=int)
    a = p.parse_args()
    path = "/v2/%s/manifests/%s" % (a.repo, a.ref)

    pull_p50(a.host, path, a.bearer, 20)  # warm up
    unloaded, _ = pull_p50(a.host, path, a.bearer, a.n)

    counts = {}
    started = threading.Event()
    cpu_before = cpu_seconds(a.pid) if a.pid else None
    t0 = time.monotonic()
    flood = threading.Thread(target=run_flood, args=(a.host, a.conns, a.seconds, a.user, counts, started))
    flood.start()
    started.wait()
    time.sleep(min(5.0, a.seconds / 4))  # the guesser is past the name's limit by now
    owner_api = timed(a.host, "GET", "/v2/", basic(a.user, a.password))
    owner_token = timed(a.host, "GET", "/acr/oauth2/token?service=bench&scope=repository:%s:pull" % a.repo, basic(a.user, a.password))
    # Pull for the rest of the flood, in rounds, so the p50 covers all of it.
    loaded_times = []
    stop = threading.Event()
    while time.monotonic() - t0 < a.seconds - 1:
        p50, n = pull_p50(a.host, path, a.bearer, 20, stop)
        loaded_times.append(p50)
    flood.join()
    elapsed = time.monotonic() - t0
    cpu = round(cpu_seconds(a.pid) - cpu_before, 1) if a.pid else None
    loaded = statistics.median(loaded_times)
    print(json.dumps({
        "pull_p50_unloaded_ms": round(unloaded, 2),
        "pull_p50_flood_ms": round(loaded, 2),
        "ratio": round(loaded / unloaded, 2),
        "goal_ratio": 2.0,
        "owner_login_during_flood": {"api": {"status": owner_api[0], "ms": owner_api[1]}, "token": {"status": owner_token[0], "ms": owner_token[1]}},
        "flood_seconds": round(elapsed, 1),
        "flood_requests": sum(counts.values()),
        "flood_statuses": {str(k): v for k, v in sorted(counts.items())},
        "registry_cpu_seconds": cpu,
    }))


if __name__ == "__main__":
    main()
