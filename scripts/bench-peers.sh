#!/bin/sh
# make bench (peers, end to end): 4 shards x 2 replicas of sgsearch
# (sgs-root over 8 sgs-leaf), Sphinx 2.2 (distributed index over 8 agent
# searchd, mirrors) and Xapian (8 xapian-tcpsrv, remote shards) on loopback,
# same corpus (data/gcide.jsonl) and queries, closed loop at 1, 4 and 16
# connections, interleaved rounds (bench/scenarios/peers.py). A peer that is
# not installed is skipped with a message. Indexes are cached in
# data/bench/peers-e2e/.
#   SGS_BENCH_PEERS=0       skip this benchmark inside `make bench`
#   SGS_BENCH_PEERS_ARGS    extra peers.py flags (e.g. --rounds 5 --duration 20)
# Results: bench/results/peers/summary.json and peers.png; bench/RESULTS.md
# records them.
set -eu
cd "$(dirname "$0")/.."
[ "${SGS_BENCH_PEERS:-1}" = 0 ] && exit 0
B=${SGS_BUILD:-build/release}
[ -x "$B/sgs-root" ] && [ -x "$B/sgs-leaf" ] && [ -x "$B/sgs-bench" ] ||
    { echo "bench-peers: build first (make all)" >&2; exit 2; }
mkdir -p data/bench
[ -s data/gcide.jsonl ] ||
    /usr/bin/python3 index-tools/corpora/gcide2jsonl.py --out data/gcide.jsonl
# shellcheck disable=SC2086
SGS_BUILD=$B exec /usr/bin/python3 bench/scenarios/peers.py ${SGS_BENCH_PEERS_ARGS:-} "$@"
