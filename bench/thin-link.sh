#!/usr/bin/env bash
# Sync over thin, dropping links, through the test suite's link emulator (a TCP proxy that caps the rate, adds latency,
# resets every connection after each N bytes carried and then refuses connections for a while):
#   down-drop-8MB             sync down of one image (19 layers of 8 MB, 152 MB) from a docker-registry parent over
#                             40 Mbit/s, reset after each 8 MB, 3 s down (the test suite's dropping link, at full size)
#   down-satellite-drop-20MB  the same image over issue 9 item 6's link: 20 Mbit/s, 300 ms one way, reset after each
#                             20 MB, 3 s down
#   down-100ms-drop-8MB       sync down of 6 layers of 8 MB (48 MB) over issue 21's link: 40 Mbit/s, 100 ms one way,
#                             reset after each 8 MB, 2 s down
#   up-drop-8MB               sync up of a 64 MiB layer a client pushed to a ReadWrite child, over 40 Mbit/s, reset after
#                             each 8 MB, 1 s down, to this module and to docker-registry as the parent (one line each)
# Prints one JSON line per scenario and run: bytes the link carried against the unique bytes, and for sync down the time
# against the floor (transfer at the link's rate plus the total down time). Takes about 7 minutes.
#
#   bench/thin-link.sh                          # every scenario, 1 run
#   BENCH_LAYERS=8 REPEAT=3 bench/thin-link.sh  # sync down of 64 MB, 3 runs
#   SCENARIO=Sync_up bench/thin-link.sh         # only the scenarios whose test name contains this
#
# env: BENCH_LAYERS [19], BENCH_LAYER_MB [8], REPEAT [1], SCENARIO [all], THINLINK_TRACE [a file: the sync down
# scenarios append their timeline to it: the link's request lines, refused connections and drops, and the sync engine's
# Debug log, on the link's clock]. Needs docker-registry, skopeo and htpasswd (scripts/test.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
export BENCH_LAYERS="${BENCH_LAYERS:-19}" BENCH_LAYER_MB="${BENCH_LAYER_MB:-8}"
run_benchmark_test ThinLinkBenchmark THINLINK_BENCH_OUT
