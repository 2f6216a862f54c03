#!/bin/sh
# make run: prepares the default corpus (GCIDE), builds and verifies its
# 4-shard index under data/, then starts a local cluster on loopback:
# 4 shards x 2 replicas of sgs-leaf and one sgs-root in front of them.
#   SGS_ROOT_PORT (default 7100)   the root's port
#   SGS_LEAF_BASE_PORT (7101)     leaves take BASE .. BASE+7
#                                 (replica r of shard s: BASE + r*4 + s)
# The PIDs go to $DATA/run/pids; scripts/stop-local.sh stops them.
set -eu
cd "$(dirname "$0")/.."
B=${SGS_BUILD:-build/release}
DATA=${SGS_DATA:-data}
ROOT_PORT=${SGS_ROOT_PORT:-7100}
LEAF_BASE=${SGS_LEAF_BASE_PORT:-7101}
SHARDS=4
REPLICAS=2
mkdir -p "$DATA"

if [ ! -s "$DATA/gcide.jsonl" ]; then
    echo "run: converting GCIDE to JSON Lines ($DATA/gcide.jsonl)"
    /usr/bin/python3 index-tools/corpora/gcide2jsonl.py --out "$DATA/gcide.jsonl.part"
    mv "$DATA/gcide.jsonl.part" "$DATA/gcide.jsonl"
fi
if [ ! -s "$DATA/gcide-idx/manifest.json" ] || [ "$DATA/gcide.jsonl" -nt "$DATA/gcide-idx/manifest.json" ]; then
    echo "run: building the index ($DATA/gcide-idx, $SHARDS shards)"
    "$B/sgs-index" build --input "$DATA/gcide.jsonl" --shards $SHARDS --out "$DATA/gcide-idx"
fi
"$B/sgs-index" verify "$DATA/gcide-idx"

RUN="$DATA/run"
mkdir -p "$RUN"
if [ -s "$RUN/pids" ]; then
    echo "run: stopping the previous local cluster"
    scripts/stop-local.sh
fi
: > "$RUN/pids"

SHARD_FLAGS=""
s=0
while [ $s -lt $SHARDS ]; do
    urls=""
    r=0
    while [ $r -lt $REPLICAS ]; do
        port=$((LEAF_BASE + r * SHARDS + s))
        "$B/sgs-leaf" --index "$DATA/gcide-idx" --shard $s --listen 127.0.0.1:$port \
            --threads 1 2>>"$RUN/leaf-$s-$r.log" &
        echo $! >> "$RUN/pids"
        urls="${urls:+$urls,}http://127.0.0.1:$port"
        r=$((r + 1))
    done
    SHARD_FLAGS="$SHARD_FLAGS --shard $s=$urls"
    s=$((s + 1))
done
# shellcheck disable=SC2086
"$B/sgs-root" --listen 127.0.0.1:$ROOT_PORT $SHARD_FLAGS 2>>"$RUN/root.log" &
echo $! >> "$RUN/pids"

i=0
until curl -fsS "http://127.0.0.1:$ROOT_PORT/readyz" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 300 ]; then
        echo "run: the cluster did not turn ready in 30 s; logs in $RUN/" >&2
        scripts/stop-local.sh
        exit 1
    fi
    sleep 0.1
done

cat <<MSG

sgsearch is running: root http://127.0.0.1:$ROOT_PORT, $SHARDS shards x $REPLICAS replicas
(leaves on ports $LEAF_BASE-$((LEAF_BASE + SHARDS * REPLICAS - 1)); logs in $RUN/).
Try:
  curl 'http://127.0.0.1:$ROOT_PORT/search?q=apple+pie&k=5'
  curl 'http://127.0.0.1:$ROOT_PORT/search?q=(cat+OR+dog)+-hot&k=3&fields=title'
  curl -XPOST http://127.0.0.1:$ROOT_PORT/search -d '{"q": "river bank", "k": 3, "timeout_ms": 200}'
  curl -XPOST http://127.0.0.1:$ROOT_PORT/search -d '{"query": {"or": [{"term": "sea"}, {"term": "ocean"}]}}'
  curl http://127.0.0.1:$ROOT_PORT/v1/info
  curl http://127.0.0.1:$ROOT_PORT/metrics
Stop it with: scripts/stop-local.sh
MSG
