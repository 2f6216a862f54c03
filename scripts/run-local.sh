#!/bin/sh
# make run: prepares the default corpus (GCIDE), builds and verifies its
# 4-shard index under data/, and says how to look inside it. The local
# cluster (leaves and root on loopback) starts here once sgs-leaf and
# sgs-root exist.
set -eu
cd "$(dirname "$0")/.."
B=${SGS_BUILD:-build/release}
DATA=${SGS_DATA:-data}
mkdir -p "$DATA"

if [ ! -s "$DATA/gcide.jsonl" ]; then
    echo "run: converting GCIDE to JSON Lines ($DATA/gcide.jsonl)"
    /usr/bin/python3 index-tools/corpora/gcide2jsonl.py --out "$DATA/gcide.jsonl.part"
    mv "$DATA/gcide.jsonl.part" "$DATA/gcide.jsonl"
fi
if [ ! -s "$DATA/gcide-idx/manifest.json" ] || [ "$DATA/gcide.jsonl" -nt "$DATA/gcide-idx/manifest.json" ]; then
    echo "run: building the index ($DATA/gcide-idx, 4 shards)"
    "$B/sgs-index" build --input "$DATA/gcide.jsonl" --shards 4 --out "$DATA/gcide-idx"
fi
"$B/sgs-index" verify "$DATA/gcide-idx"
"$B/sgs-index" inspect "$DATA/gcide-idx" --top 10

cat <<MSG

The GCIDE index is in $DATA/gcide-idx. Look inside it:
  $B/sgs-index inspect $DATA/gcide-idx --term apple
  $B/sgs-index inspect $DATA/gcide-idx/shard-0000.sgs --json
Serving it (sgs-leaf, sgs-root) is not built yet.
MSG
