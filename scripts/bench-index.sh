#!/bin/sh
# make bench (indexing): build throughput, peak RSS and index size of
# sgs-index next to Xapian's scriptindex and Sphinx's indexer, on the same
# corpora in the same run, plus the posting codec's decode speed against
# memory bandwidth. Prints JSON lines; bench/RESULTS.md records them.
#   SGS_BENCH_CORPORA  space-separated subset of: gcide synth1m kernel synth10m
#                      (default: gcide synth1m)
#   SGS_BENCH_PEERS    peers to run (default: xapian,sphinx; Xapian needs about
#                      45 minutes for synth10m here)
#   SGS_BENCH_THREADS  sgs-index --threads settings to run (default: "1 0"; 0 is
#                      one per core)
set -eu
cd "$(dirname "$0")/.."
B=${SGS_BUILD:-build/release}
DATA=${SGS_DATA:-data}
WORK=${SGS_BENCH_WORK:-$DATA/bench}
CORPORA=${SGS_BENCH_CORPORA:-gcide synth1m}
PEERS=${SGS_BENCH_PEERS:-xapian,sphinx}
THREADS=${SGS_BENCH_THREADS:-1 0}
mkdir -p "$DATA" "$WORK"

corpus() {
    case "$1" in
    gcide)
        [ -s "$DATA/gcide.jsonl" ] ||
            /usr/bin/python3 index-tools/corpora/gcide2jsonl.py --out "$DATA/gcide.jsonl" ;;
    synth1m)
        [ -s "$DATA/synth1m.jsonl" ] ||
            "$B/sgs-synth" --docs 1000000 --seed 1 --out "$DATA/synth1m.jsonl" ;;
    synth10m)
        [ -s "$DATA/synth10m.jsonl" ] ||
            "$B/sgs-synth" --docs 10000000 --seed 1 --out "$DATA/synth10m.jsonl" ;;
    kernel)
        [ -s "$DATA/kernel.jsonl" ] ||
            /usr/bin/python3 index-tools/corpora/kernel2jsonl.py --out "$DATA/kernel.jsonl" ;;
    *) echo "bench-index: unknown corpus $1" >&2; exit 2 ;;
    esac
}

# One sgs-index run: its summary line plus peak RSS and the setting used.
ours() { # corpus threads mem_limit
    rm -rf "$WORK/sgs-idx"
    cat "$DATA/$1.jsonl" >/dev/null # warm the page cache, as the peers' runner does
    /usr/bin/time -f '%M' -o "$WORK/rss" "$B/sgs-index" build --input "$DATA/$1.jsonl" \
        --shards 1 --out "$WORK/sgs-idx" --threads "$2" --mem-limit "$3" --quiet=false \
        >"$WORK/summary"
    printf '{"tool":"sgs-index","corpus":"%s","threads":%s,"mem_limit":"%s","peak_rss_kb":%s,"summary":%s}\n' \
        "$1" "$2" "$3" "$(cat "$WORK/rss")" "$(tail -n 1 "$WORK/summary")"
}

echo "{\"machine\":{\"cores\":$(nproc),\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\",\"date\":\"$(date -u +%F)\"}}"
for c in $CORPORA; do
    corpus "$c"
    for t in $THREADS; do
        ours "$c" "$t" 256M
    done
    bench/peers/run_peers.py --input "$DATA/$c.jsonl" --workdir "$WORK/peers-$c" --peers "$PEERS" |
        sed "s/^{/{\"corpus\":\"$c\",/"
done
"$B/bench/bench_codec" --json
