#!/usr/bin/env python3
"""Paired A/B probe of two registries that run side by side and hold the same image: in each round, in alternating
order, the manifest GET and blob HEAD latency (N requests each on one keep-alive connection per registry, the
round's median) and the aggregate throughput of PAR parallel raw GETs of one blob (curl, a fresh connection each).
Both registries see the same machine at the same moments, so drift (other processes, frequency, page cache) falls
on both; prints per figure the median over the rounds for A and B, B/A of those medians, and the median and
quartiles of the per-round ratios B/A.

    bench/ab-probe.py --a 127.0.0.1:5311 --b 127.0.0.1:5313 --repo bench/app --ref v1 --blob sha256:... \
        --rounds 30 --n 200 --par 8 [--json-out FILE]
"""
import argparse
import http.client
import json
import statistics
import subprocess
import time

ACCEPT = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


def latency(conn, method, path, headers, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request(method, path, headers=headers)
        r = conn.getresponse()
        r.read()
        times.append((time.perf_counter() - t0) * 1000.0)
        if r.status != 200:
            raise SystemExit("%s %s -> HTTP %d" % (method, path, r.status))
    return statistics.median(times)


def parallel_get(host, path, par):
    url = "http://%s%s" % (host, path)
    t0 = time.perf_counter()
    procs = [subprocess.Popen(["curl", "-sf", "-o", "/dev/null", "-w", "%{size_download}", url], stdout=subprocess.PIPE) for _ in range(par)]
    total = 0
    for p in procs:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise SystemExit("curl %s failed" % url)
        total += int(out)
    return total / (time.perf_counter() - t0) / 1e6  # MB/s


def quartiles(xs):
    xs = sorted(xs)
    return xs[len(xs) // 4], statistics.median(xs), xs[(3 * len(xs)) // 4]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--blob", required=True)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--par", type=int, default=8)
    ap.add_argument("--json-out")
    a = ap.parse_args()

    conns = {name: http.client.HTTPConnection(host) for name, host in (("a", a.a), ("b", a.b))}
    hosts = {"a": a.a, "b": a.b}
    manifest = "/v2/%s/manifests/%s" % (a.repo, a.ref)
    blob = "/v2/%s/blobs/%s" % (a.repo, a.blob)
    figures = {"manifest_get_ms_p50": {"a": [], "b": []}, "blob_head_ms_p50": {"a": [], "b": []}, "par_raw_get_MBps": {"a": [], "b": []}}
    for name in ("a", "b"):  # warm-up, not counted
        latency(conns[name], "GET", manifest, {"Accept": ACCEPT}, a.n)
        latency(conns[name], "HEAD", blob, {}, a.n)
        parallel_get(hosts[name], blob, a.par)
    for rnd in range(a.rounds):
        order = ("a", "b") if rnd % 2 == 0 else ("b", "a")
        for name in order:
            figures["manifest_get_ms_p50"][name].append(latency(conns[name], "GET", manifest, {"Accept": ACCEPT}, a.n))
            figures["blob_head_ms_p50"][name].append(latency(conns[name], "HEAD", blob, {}, a.n))
        for name in order:
            figures["par_raw_get_MBps"][name].append(parallel_get(hosts[name], blob, a.par))

    result = {}
    print("%-22s %10s %10s %7s   %s" % ("figure", "A", "B", "B/A", "per-round B/A: median (quartiles)"))
    for key, values in figures.items():
        ma, mb = statistics.median(values["a"]), statistics.median(values["b"])
        q1, med, q3 = quartiles([b / x for x, b in zip(values["a"], values["b"])])
        result[key] = {"a": ma, "b": mb, "ratio": mb / ma, "round_ratio_median": med, "round_ratio_q1": q1, "round_ratio_q3": q3, "rounds": a.rounds}
        print("%-22s %10.3f %10.3f %7.3f   %.3f (%.3f-%.3f)" % (key, ma, mb, mb / ma, med, q1, q3))
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main()
