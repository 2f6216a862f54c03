#!/bin/sh
# make bench (root): the root's own cost on real sgs-leaf and sgs-root
# processes on loopback, in one run (bench/scenarios/root_cost.py): CPU per
# sub-request of the root's leaf client against libcurl's multi interface,
# the whole root's CPU per leaf sub-request, the root's latency overhead
# against a loopback HTTP round trip, and fan-out throughput against nginx.
# The libcurl variant of the client benchmark (bench/micro/curl_http_client.c)
# is compiled here, only when libcurl's headers are installed
# (libcurl4-openssl-dev, scripts/deps.sh bench); without them its rows are
# left out.
#   SGS_BENCH_ROOT=0        skip this benchmark inside `make bench`
#   SGS_BENCH_ROOT_ARGS     extra root_cost.py flags (e.g. --phases cpu --rounds 5)
# Results: bench/results/root_cost/summary.json; bench/RESULTS.md records them.
set -eu
cd "$(dirname "$0")/.."
[ "${SGS_BENCH_ROOT:-1}" = 0 ] && exit 0
B=${SGS_BUILD:-build/release}
[ -x "$B/sgs-root" ] && [ -x "$B/bench/bench_http_client" ] && [ -f "$B/libsgs.a" ] ||
    { echo "bench-root: build first (make all)" >&2; exit 2; }
if pkg-config --exists libcurl 2>/dev/null; then
    cc -std=c11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -D_GNU_SOURCE -I. -pthread -o "$B/bench/curl_http_client" bench/micro/curl_http_client.c \
        "$B/libsgs.a" $(pkg-config --cflags --libs libcurl) -ljansson -lxxhash -lutf8proc -lzstd -lz -lm
else
    echo "bench-root: libcurl not installed: no libcurl rows (scripts/deps.sh bench)" >&2
    rm -f "$B/bench/curl_http_client"
fi
# shellcheck disable=SC2086
SGS_BUILD=$B exec /usr/bin/python3 bench/scenarios/root_cost.py ${SGS_BENCH_ROOT_ARGS:-} "$@"
