#!/bin/sh
# make bench (leaf queries): per-query latency and throughput of one-shard
# query evaluation, TOP-10 (k = 10) and COUNT (k = 0), on the same corpus and
# queries in one run: sgsearch in process (bench_eval), Xapian in process
# (C++ API), SQLite FTS5 in process (C API), then sgs-leaf over HTTP (wrk,
# keep-alive). Engines' exact counts are compared first. JSON lines on
# stdout; bench/RESULTS.md records them.
#   SGS_BENCH_CORPORA  space-separated subset of: gcide synth1m synth10m
#                      (default: gcide synth1m; synth10m is 8.4 GB of JSONL
#                      and its Xapian index takes about 28 minutes on 2 cores)
#   SGS_BENCH_LEAF=0   skip this benchmark inside `make bench`
#   SGS_BENCH_REPEAT   in-process passes over the queries, sgsearch (default 3)
#   SGS_BENCH_PEER_REPEAT  the same for Xapian and FTS5 (default 1: FTS5
#                      ranks OR queries in tens of milliseconds); every engine
#                      also gets one untimed warm-up pass
#   SGS_BENCH_PER_CLASS queries per class (default 200)
#   SGS_BENCH_CPU_BATCH=1  in-process engines read the thread CPU clock once
#                      per pass over a class, not around each query (on a
#                      guest that clock is a slow system call)
#   SGS_BENCH_XAPIAN_PART_DOCS  Xapian indexes larger corpora in parts of this
#                      many documents, merged by xapian-compact (default 1000000)
#   SGS_BENCH_WRK_SECONDS, SGS_BENCH_WRK_CONNECTIONS  wrk run (default 3, 8)
#   SGS_BENCH_JSON     also write all records here (one JSON object per corpus)
# Run it alone:  SGS_BENCH_CORPORA=gcide scripts/bench-leaf.sh
# Indexes are built once into $SGS_BENCH_WORK/leaf-<corpus>/ and reused while
# the JSONL is older than them; delete the folder to rebuild.
set -eu
cd "$(dirname "$0")/.."
[ "${SGS_BENCH_LEAF:-1}" = 0 ] && exit 0
B=${SGS_BUILD:-build/release}
DATA=${SGS_DATA:-data}
WORK=${SGS_BENCH_WORK:-$DATA/bench}
CORPORA=${SGS_BENCH_CORPORA:-gcide synth1m}
PY=/usr/bin/python3 # Debian's, which has python3-xapian
PEERS_BIN=$B/bench/peers
mkdir -p "$DATA" "$WORK" "$PEERS_BIN"

for tool in wrk g++ pkg-config xapian-compact; do
    command -v $tool >/dev/null 2>&1 ||
        { echo "bench-leaf: $tool missing (scripts/deps.sh bench)" >&2; exit 2; }
done
[ -x "$B/bench/bench_eval" ] && [ -x "$B/sgs-leaf" ] ||
    { echo "bench-leaf: build first (make all)" >&2; exit 2; }

# The peer query drivers.
g++ -O2 -Wall -Wextra -Werror -o "$PEERS_BIN/xapian_query" bench/peers/xapian_query.cc \
    $(pkg-config --cflags --libs xapian-core 2>/dev/null || echo -lxapian)
cc -O2 -Wall -Wextra -Werror -o "$PEERS_BIN/fts5_query" bench/peers/fts5_query.c \
    $(pkg-config --cflags --libs sqlite3)

corpus() {
    case "$1" in
    gcide)
        [ -s "$DATA/gcide.jsonl" ] ||
            $PY index-tools/corpora/gcide2jsonl.py --out "$DATA/gcide.jsonl" ;;
    synth1m)
        [ -s "$DATA/synth1m.jsonl" ] ||
            "$B/sgs-synth" --docs 1000000 --seed 1 --out "$DATA/synth1m.jsonl" ;;
    synth10m)
        [ -s "$DATA/synth10m.jsonl" ] ||
            "$B/sgs-synth" --docs 10000000 --seed 1 --out "$DATA/synth10m.jsonl" ;;
    kernel) echo "bench-leaf: kernel: not a leaf benchmark corpus, skipped" >&2; return 1 ;;
    *) echo "bench-leaf: unknown corpus $1" >&2; exit 2 ;;
    esac
}

# xapian_index JSONL DIR -> DIR/xapian.tmp. Xapian's indexing slows as its
# database grows (on synth10m it fell from about 3,600 to 1,400 docs/s), so a
# corpus of more than SGS_BENCH_XAPIAN_PART_DOCS documents (default 1,000,000)
# is indexed in parts of that size, one per core at a time, and the parts are
# merged in order by xapian-compact (the same documents, ids and statistics
# as one build; compacted, as a production Xapian index would be).
xapian_index() {
    part=${SGS_BENCH_XAPIAN_PART_DOCS:-1000000}
    docs=$(grep -c . "$1")
    if [ "$docs" -le "$part" ]; then
        $PY bench/peers/xapian_py_index.py "$1" "$2/xapian.tmp" >&2
        return
    fi
    n=$(( (docs + part - 1) / part ))
    seq 0 $((n - 1)) | xargs -P "$(nproc)" -I K sh -c \
        "$PY bench/peers/xapian_py_index.py '$1' '$2/xapian.part'K --skip \$((K * $part)) --limit $part >&2"
    parts=$(seq 0 $((n - 1)) | sed "s|^|$2/xapian.part|")
    # shellcheck disable=SC2086
    xapian-compact --multipass $parts "$2/xapian.tmp" >&2
    # shellcheck disable=SC2086
    rm -rf $parts
}

# fresh TARGET SOURCE: TARGET exists and is newer than SOURCE.
fresh() { [ -e "$1" ] && [ "$1" -nt "$2" ]; }

indexes() { # corpus -> $WORK/leaf-<corpus>/{sgs,xapian,fts5.db,queries.tsv}
    d=$WORK/leaf-$1
    in=$DATA/$1.jsonl
    mkdir -p "$d"
    # Rebuilt when older than the corpus or of a format this build does not read.
    if ! fresh "$d/sgs/manifest.json" "$in" ||
        ! "$B/sgs-index" inspect "$d/sgs" >/dev/null 2>&1; then
        echo "bench-leaf: $1: sgs-index" >&2
        rm -rf "$d/sgs"
        "$B/sgs-index" build --input "$in" --shards 1 --out "$d/sgs" >&2
    fi
    if ! fresh "$d/xapian/iamglass" "$in"; then
        echo "bench-leaf: $1: Xapian index (xapian_py_index.py)" >&2
        rm -rf "$d/xapian" "$d/xapian.tmp" "$d/xapian.part"*
        xapian_index "$in" "$d"
        mv "$d/xapian.tmp" "$d/xapian"
    fi
    if ! fresh "$d/fts5.db" "$in"; then
        echo "bench-leaf: $1: FTS5 index (fts5_build.py)" >&2
        $PY bench/peers/fts5_build.py "$in" "$d/fts5.db.tmp" >&2
        mv "$d/fts5.db.tmp" "$d/fts5.db"
    fi
    if ! fresh "$d/queries.tsv" "$d/sgs/manifest.json"; then
        SGS_BUILD=$B $PY bench/leaf/make_queries.py "$d/sgs" "$d/queries.tsv" \
            --per-class "${SGS_BENCH_PER_CLASS:-200}"
    fi
}

echo "{\"machine\":{\"cores\":$(nproc),\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\",\"date\":\"$(date -u +%FT%TZ)\",\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}}"
for c in $CORPORA; do
    corpus "$c" || continue
    indexes "$c"
    json=
    [ -n "${SGS_BENCH_JSON:-}" ] && json="--json ${SGS_BENCH_JSON%.json}-$c.json"
    # shellcheck disable=SC2086
    $PY bench/leaf/run_leaf_bench.py --corpus "$c" --dir "$WORK/leaf-$c" \
        --queries "$WORK/leaf-$c/queries.tsv" --build "$B" --peers-bin "$PEERS_BIN" \
        --repeat "${SGS_BENCH_REPEAT:-3}" --peer-repeat "${SGS_BENCH_PEER_REPEAT:-1}" --wrk-seconds "${SGS_BENCH_WRK_SECONDS:-3}" \
        --wrk-connections "${SGS_BENCH_WRK_CONNECTIONS:-8}" $json
done
