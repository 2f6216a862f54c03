#!/bin/sh
# Installs the Debian packages sgsearch needs that are missing; a no-op when
# all are present. Usage: scripts/deps.sh [build|bench]
#   build (default): compilers' libraries, test tools and the default corpus
#   bench: also the peers and corpora the benchmarks compare against
set -eu

build_pkgs="gcc make pkg-config libmicrohttpd-dev libjansson-dev libxxhash-dev libck-dev
libjemalloc-dev libutf8proc-dev libcriterion-dev libzstd-dev zlib1g-dev zstd python3
python3-pytest python3-yaml dict-gcide clang libclang-rt-14-dev curl"
bench_pkgs="xapian-tools xapian-omega python3-xapian sphinxsearch linux-source-6.1 gnuplot-nox time
sqlite3 libsqlite3-dev libxapian-dev g++ nginx-light wrk libmariadb-dev libcurl4-openssl-dev"

want=$build_pkgs
[ "${1:-build}" = bench ] && want="$build_pkgs $bench_pkgs"

missing=""
for p in $want; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
        "install ok installed") ;;
        *) missing="$missing $p" ;;
    esac
done
# node and npm run the offline Kubernetes schema validation (tests/k8s/).
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"

if [ -n "$missing" ]; then
    echo "deps: installing:$missing" >&2
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# kubernetes-models for tests/k8s/, pinned by its lock file.
node_dir="$(dirname "$0")/../tests/k8s/node"
if [ ! -d "$node_dir/node_modules/kubernetes-models" ]; then
    echo "deps: npm ci in tests/k8s/node" >&2
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
