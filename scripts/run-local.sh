#!/bin/sh
# make run: prepares the default corpus (GCIDE), builds and verifies its
# 4-shard index under data/, then starts the local cluster on loopback:
# 4 shards x 2 replicas of sgs-leaf and one sgs-root in front of them. It
# waits until the root's /readyz is 200, prints example queries and how to
# stop (scripts/stop-local.sh).
#
# Environment (all optional):
#   SGS_BUILD          build variant directory        (build/release)
#   SGS_DATA           data directory                 (data)
#   SGS_CORPUS         JSON Lines corpus to serve     ($SGS_DATA/gcide.jsonl, converted from GCIDE)
#   SGS_SHARDS         shards                         (4)
#   SGS_REPLICAS       replicas per shard             (2)
#   SGS_RUN_PORT_BASE  the root listens on it, leaf i on base+1+i   (7100)
#   SGS_ROOT_PORT, SGS_LEAF_BASE_PORT  the root's port and leaf 0's, when set
#                      (default from SGS_RUN_PORT_BASE)
#   SGS_LEAF_THREADS   worker threads per leaf        (1: eight leaves share the cores)
#   SGS_RUN_TIMEOUT_S  how long to wait for readiness (120)
#
# Leaf i = replica * SHARDS + shard (the StatefulSet ordinal), so the default
# ports are 7101-7104 for replica 0 of shards 0-3 and 7105-7108 for replica 1.
# Logs go to $SGS_DATA/run/*.log, PIDs to $SGS_DATA/run/pids. A second run
# stops the cluster the first one started before starting a new one.
set -eu
cd "$(dirname "$0")/.."
B=${SGS_BUILD:-build/release}
DATA=${SGS_DATA:-data}
SHARDS=${SGS_SHARDS:-4}
REPLICAS=${SGS_REPLICAS:-2}
BASE=${SGS_RUN_PORT_BASE:-7100}
ROOT_PORT=${SGS_ROOT_PORT:-$BASE}
LEAF_BASE=${SGS_LEAF_BASE_PORT:-$((BASE + 1))}
LEAF_THREADS=${SGS_LEAF_THREADS:-1}
TIMEOUT=${SGS_RUN_TIMEOUT_S:-120}
RUN="$DATA/run"
mkdir -p "$DATA" "$RUN"

if [ -n "${SGS_CORPUS:-}" ]; then
    CORPUS=$SGS_CORPUS
    [ -s "$CORPUS" ] || { echo "run: SGS_CORPUS=$CORPUS is missing or empty" >&2; exit 1; }
else
    CORPUS="$DATA/gcide.jsonl"
    if [ ! -s "$CORPUS" ]; then
        echo "run: converting GCIDE to JSON Lines ($CORPUS)"
        /usr/bin/python3 index-tools/corpora/gcide2jsonl.py --out "$CORPUS.part"
        mv "$CORPUS.part" "$CORPUS"
    fi
fi
NAME=$(basename "$CORPUS")
NAME=${NAME%%.*}
IDX="$DATA/$NAME-idx"
# Rebuilt when missing, older than the corpus, of another shard count, or
# of a shard format this build does not read.
if [ ! -s "$IDX/manifest.json" ] || [ "$CORPUS" -nt "$IDX/manifest.json" ] ||
   [ "$(sed -n 's/^  "shards": *\([0-9]*\).*/\1/p' "$IDX/manifest.json")" != "$SHARDS" ] ||
   ! "$B/sgs-index" inspect "$IDX" >/dev/null 2>&1; then
    echo "run: building the index ($IDX, $SHARDS shards)"
    rm -rf "$IDX.part"
    "$B/sgs-index" build --input "$CORPUS" --shards "$SHARDS" --out "$IDX.part"
    rm -rf "$IDX"
    mv "$IDX.part" "$IDX"
fi
"$B/sgs-index" verify "$IDX"

# A cluster started earlier from this data directory is stopped first.
if [ -s "$RUN/pids" ]; then
    echo "run: stopping the cluster started earlier ($RUN/pids)"
    SGS_DATA="$DATA" scripts/stop-local.sh
fi
: > "$RUN/pids"

fail() {
    echo "run: $1" >&2
    if [ -n "${2:-}" ] && [ -f "$2" ]; then
        echo "--- last lines of $2:" >&2
        tail -n 30 "$2" >&2
    fi
    echo "run: stopping what was started" >&2
    SGS_DATA="$DATA" scripts/stop-local.sh >&2 || true
    exit 1
}

# wait_ready URL LOG PID: polls URL/readyz until 200, the process dies or time runs out.
wait_ready() {
    end=$(($(date +%s) + TIMEOUT))
    while :; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1/readyz" || true)
        [ "$code" = 200 ] && return 0
        kill -0 "$3" 2>/dev/null || fail "the process serving $1 (pid $3) exited" "$2"
        [ "$(date +%s)" -lt "$end" ] || fail "$1/readyz not 200 after ${TIMEOUT}s (last: $code)" "$2"
        sleep 0.1
    done
}

# The leaves: leaf i = replica * SHARDS + shard on port LEAF_BASE + i.
i=0
total=$((SHARDS * REPLICAS))
while [ "$i" -lt "$total" ]; do
    shard=$((i % SHARDS))
    replica=$((i / SHARDS))
    port=$((LEAF_BASE + i))
    log="$RUN/leaf-$shard-$replica.log"
    setsid "$B/sgs-leaf" --index "$IDX" --shard "$shard" --listen "127.0.0.1:$port" \
        --threads "$LEAF_THREADS" </dev/null >"$log" 2>&1 &
    echo "$! sgs-leaf $port" >> "$RUN/pids"
    i=$((i + 1))
done
i=0
while [ "$i" -lt "$total" ]; do
    port=$((LEAF_BASE + i))
    pid=$(sed -n "$((i + 1))p" "$RUN/pids" | cut -d' ' -f1)
    wait_ready "http://127.0.0.1:$port" "$RUN/leaf-$((i % SHARDS))-$((i / SHARDS)).log" "$pid"
    i=$((i + 1))
done
echo "run: $total leaves ready ($SHARDS shards x $REPLICAS replicas, ports $LEAF_BASE-$((LEAF_BASE + total - 1)))"

if [ ! -x "$B/sgs-root" ]; then
    cat <<MSG
run: sgs-root is not built yet, so only the leaves run. Query one shard:
  curl -s localhost:$LEAF_BASE/v1/shard/search -d '{"q": "apple OR pear", "k": 3}'
Stop: scripts/stop-local.sh   (PIDs in $RUN/pids, logs in $RUN/)
MSG
    exit 0
fi

set --
s=0
while [ "$s" -lt "$SHARDS" ]; do
    urls=
    r=0
    while [ "$r" -lt "$REPLICAS" ]; do
        urls="$urls${urls:+,}http://127.0.0.1:$((LEAF_BASE + r * SHARDS + s))"
        r=$((r + 1))
    done
    set -- "$@" --shard "$s=$urls"
    s=$((s + 1))
done
setsid "$B/sgs-root" --listen "127.0.0.1:$ROOT_PORT" "$@" </dev/null >"$RUN/root.log" 2>&1 &
echo "$! sgs-root $ROOT_PORT" >> "$RUN/pids"
wait_ready "http://127.0.0.1:$ROOT_PORT" "$RUN/root.log" "$!"

R="localhost:$ROOT_PORT"
cat <<MSG
run: sgs-root ready on 127.0.0.1:$ROOT_PORT over $SHARDS shards x $REPLICAS replicas of $IDX.

Try:
  curl -s '$R/search?q=apple&k=3'
  curl -s '$R/search?q=apple+OR+pear&k=5'
  curl -s '$R/search?q=fruit+-apple&k=5'
  curl -s '$R/search?q=red+round+fruit&k=5'
  curl -s '$R/search?q=(cat+OR+dog)+-hot&k=3&fields=title'
  curl -s $R/search -d '{"q": "river bank", "k": 3, "timeout_ms": 200}'
  curl -s $R/search -d '{"q": "horse NOT cart", "k": 5}'
  curl -s $R/search -d '{"query": {"or": [{"term": "cat"}, {"term": "dog"}]}, "k": 3}'
  curl -s $R/v1/info
  curl -s $R/metrics

Logs: $RUN/*.log   PIDs: $RUN/pids
Stop: scripts/stop-local.sh$( [ "$DATA" = data ] || printf ' (with SGS_DATA=%s)' "$DATA")
MSG
