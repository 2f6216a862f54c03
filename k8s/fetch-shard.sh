#!/bin/sh
# sgs-fetch-shard: the leaf pod's init container. Downloads the manifest and
# the one shard file this pod serves from an HTTP(S) (or file://) index URL,
# checks the shard with `sgs-index verify` (every checksum and invariant), and
# only then moves both into the index directory (shard first, manifest last).
# The leaf then checks the file's size and XXH3 against the manifest before it
# listens, so a partial or corrupt copy never becomes ready.
#
# Environment:
#   SGS_INDEX_URL   base URL of one index generation (holds manifest.json); required
#   SGS_INDEX_DIR   where the leaf reads the index (default /index)
#   SGS_HOSTNAME    pod name (default: hostname); its trailing -N is the ordinal
#   SGS_ORDINAL     the ordinal, overriding the name
#   SGS_INDEX_BIN   the sgs-index program (default: sgs-index on PATH)
# The shard served is ordinal mod the manifest's shard count, as in
# `sgs-leaf --shard-from-hostname`. Exit 0 when the copy is in place and sound;
# non-zero (the pod retries the init container) on any failure.
set -eu

die() { echo "sgs-fetch-shard: $*" >&2; exit 1; }

url=${SGS_INDEX_URL:-}
[ -n "$url" ] || die "SGS_INDEX_URL is not set"
url=${url%/}
dir=${SGS_INDEX_DIR:-/index}
index_bin=${SGS_INDEX_BIN:-sgs-index}
name=${SGS_HOSTNAME:-$(hostname)}
ordinal=${SGS_ORDINAL:-${name##*-}}
case "$ordinal" in
    ''|*[!0-9]*) die "no ordinal: '$name' does not end in -N and SGS_ORDINAL is not set" ;;
esac

mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fetch() { # URL FILE
    curl --fail --silent --show-error --location --retry 5 --retry-delay 2 \
        --retry-connrefused --connect-timeout 10 -o "$2" "$1" || die "cannot fetch $1"
}

fetch "$url/manifest.json" "$tmp/manifest.json"
man="$tmp/manifest.json"
shards=$(grep -o '"shards"[[:space:]]*:[[:space:]]*[0-9][0-9]*' "$man" | head -n 1 | grep -o '[0-9]*$') \
    || die "$url/manifest.json has no shard count"
[ "$shards" -gt 0 ] || die "$url/manifest.json says 0 shards"
shard=$((ordinal % shards))

# shard_files is in shard order (shard_files[i].shard == i) and "file" is a key
# of those entries alone, so the (shard+1)-th "file" is this shard's.
file=$(grep -o '"file"[[:space:]]*:[[:space:]]*"[^"]*"' "$man" | sed -n "$((shard + 1))p" \
    | sed 's/.*"\([^"]*\)"$/\1/')
case "$file" in
    ''|*/*|.*|*[!A-Za-z0-9._-]*) die "manifest names no usable file for shard $shard: '$file'" ;;
esac

fetch "$url/$file" "$tmp/$file"
"$index_bin" verify --quiet "$tmp/$file" || die "$url/$file failed verification"

mv -f "$tmp/$file" "$dir/$file"
mv -f "$tmp/manifest.json" "$dir/manifest.json"
echo "sgs-fetch-shard: ordinal $ordinal serves shard $shard of $shards: $file verified" >&2
